import { newId } from '@zenmesh/crypto';
import type { Db, Tx } from '@zenmesh/db';
import { LRUCache } from 'lru-cache';
import { DELIVERY_COLUMNS } from './deliveries.js';
import { ACTIVE_STATES, nextStateAfterAttempt } from './delivery-state.js';
import {
  DEFAULT_ENDPOINT_HEALTH,
  type EndpointHealthPolicy,
  recordEndpointHealth,
} from './endpoint-health.js';
import { BackendError, notFound } from './errors.js';
import { type DeliveryRecord, type DeliveryRow, toDelivery } from './records.js';

export interface ReportAttemptInput {
  deliveryId: string;
  leaseToken: string;
  /** 0 when no HTTP response was received. */
  statusCode: number;
  error?: string;
  durationMs?: number;
  /** Seconds from the target's Retry-After header; 0 when absent. */
  retryAfterS?: number;
}

export interface ReportOptions {
  random?: (() => number) | undefined;
  health?: EndpointHealthPolicy | undefined;
  /** Recorded as `via` when the backend disables an endpoint on egress's report. */
  reporter?: string | undefined;
}

/**
 * Records one attempt, in the tenant's transaction `tx`, and moves the delivery on, compare-and-set on (id, lease token, lease not
 * expired): a caller whose lease expired or was re-issued gets FAILED_PRECONDITION `lease_lost`, so
 * two egress workers can never both move one delivery. In the same transaction the endpoint's health
 * is updated: a success clears its failure streak; 410 Gone disables it at once (RFC 9110 §15.5.11:
 * the target is gone for good); a streak of failures long enough disables it too. A disabled
 * endpoint's deliveries are kept as they are and resume when it is enabled again.
 */
async function applyReport(
  tx: Tx,
  tenantId: string,
  input: ReportAttemptInput,
  options: ReportOptions,
): Promise<DeliveryRecord> {
  const health = options.health ?? DEFAULT_ENDPOINT_HEALTH;
  const { rows: held } = await tx.query<DeliveryRow>(
    `select ${DELIVERY_COLUMNS} from core.deliveries
      where tenant_id = $3 and id = $1 and lease_token = $2 and lease_expires_at > now()
        and state = any($4)
      for update`,
    [input.deliveryId, input.leaseToken, tenantId, ACTIVE_STATES],
  );
  const current = held[0];
  if (current === undefined || input.leaseToken.length === 0) {
    throw new BackendError('ERR_FAILED_PRECONDITION', 'lease_lost');
  }
  const error = (input.error ?? '').slice(0, 2000);
  const next = nextStateAfterAttempt(
    { state: current.state, attempts: current.attempts, attemptsAtReplay: current.attempts_at_replay },
    { statusCode: input.statusCode, retryAfterS: input.retryAfterS ?? 0 },
    options.random,
  );
  const { rows: updated } = await tx.query<DeliveryRow>(
    `update core.deliveries
        set state = $3, attempts = $4,
            next_attempt_at = case when $5::float8 is null then null else now() + make_interval(secs => $5::float8) end,
            last_status_code = $6, last_error = $7, updated_at = now(),
            dead_at = case when $3 = 'dead' then now() else null end,
            lease_token = null, lease_owner = null, lease_expires_at = null
      where tenant_id = $8 and id = $1 and lease_token = $2 and state = $9
      returning ${DELIVERY_COLUMNS}`,
    [
      input.deliveryId,
      input.leaseToken,
      next.state,
      next.attempt,
      next.delayS,
      input.statusCode,
      error === '' ? null : error,
      tenantId,
      current.state,
    ],
  );
  const row = updated[0];
  if (row === undefined) throw new BackendError('ERR_FAILED_PRECONDITION', 'lease_lost');
  await tx.query(
    `insert into core.attempts (id, tenant_id, delivery_id, attempt, status_code, error, duration_ms, lease_owner)
     values ($1, $2, $3, $4, $5, $6, $7, $8)`,
    [
      newId('att'),
      tenantId,
      input.deliveryId,
      next.attempt,
      input.statusCode,
      error,
      Math.max(0, Math.floor(input.durationMs ?? 0)),
      current.lease_owner,
    ],
  );
  await recordEndpointHealth(tx, tenantId, current.endpoint_id, input.statusCode, health, {
    actor: 'system',
    via: options.reporter ?? current.lease_owner ?? '',
  });
  return toDelivery(row);
}

/** Which tenant owns each delivery (the cross-tenant lookup runs once per delivery the cache lacks). */
export interface DeliveryTenants {
  /** Noted at lease time: the report for it then needs no lookup. */
  remember(deliveryId: string, tenantId: string): void;
  tenantOf(db: Db, deliveryId: string): Promise<string | undefined>;
}

const lookUpTenant = async (db: Db, deliveryId: string): Promise<string | undefined> => {
  const { rows } = await db.query<{ tenant_id: string | null }>(
    'select core.delivery_tenant($1) as tenant_id',
    [deliveryId],
  );
  return rows[0]?.tenant_id ?? undefined;
};

/** A delivery never changes tenant, so what was seen at lease time stays true. */
export function createDeliveryTenants(max = 50_000): DeliveryTenants {
  const known = new LRUCache<string, string>({ max });
  return {
    remember(deliveryId, tenantId) {
      known.set(deliveryId, tenantId);
    },
    tenantOf: async (db, deliveryId) => known.get(deliveryId) ?? lookUpTenant(db, deliveryId),
  };
}

const noCache: DeliveryTenants = { remember() {}, tenantOf: lookUpTenant };

/** A statement failed, so the server rolled the transaction back: applying its reports again is safe. */
const rolledBack = (err: unknown): boolean => typeof (err as { sqlState?: unknown }).sqlState === 'string';

/**
 * Records a batch of attempts: one transaction per tenant, each report applied as `reportAttempt` would
 * (its own compare-and-set), answering in order with the delivery or the Error that report alone got
 * (a refused report writes nothing, so the others in its transaction still commit). When a statement
 * fails, that tenant's reports are applied again one by one.
 */
export async function reportAttempts(
  db: Db,
  inputs: ReportAttemptInput[],
  options: ReportOptions & { tenants?: DeliveryTenants } = {},
): Promise<Array<DeliveryRecord | Error>> {
  const tenants = options.tenants ?? noCache;
  const out: Array<DeliveryRecord | Error> = new Array(inputs.length);
  const byTenant = new Map<string, number[]>();
  await Promise.all(
    inputs.map(async (input, i) => {
      try {
        if (input.deliveryId.length === 0 || input.deliveryId.length > 64)
          throw notFound('delivery_not_found');
        const tenantId = await tenants.tenantOf(db, input.deliveryId);
        if (tenantId === undefined) throw notFound('delivery_not_found');
        byTenant.set(tenantId, [...(byTenant.get(tenantId) ?? []), i]);
      } catch (err) {
        out[i] = err as Error;
      }
    }),
  );
  const write = async (tenantId: string, indexes: number[]): Promise<void> => {
    try {
      const answers = await db.withTenant(tenantId, async (tx) => {
        const done: Array<DeliveryRecord | Error> = [];
        for (const i of indexes) {
          try {
            done.push(await applyReport(tx, tenantId, inputs[i] as ReportAttemptInput, options));
          } catch (err) {
            // lease_lost is decided before anything is written: the other reports can still commit.
            if (!(err instanceof BackendError && err.reason === 'lease_lost')) throw err;
            done.push(err);
          }
        }
        return done;
      });
      for (const [k, i] of indexes.entries()) out[i] = answers[k] as DeliveryRecord | Error;
    } catch (err) {
      if (indexes.length > 1 && rolledBack(err)) {
        for (const i of indexes) await write(tenantId, [i]);
        return;
      }
      for (const i of indexes) out[i] = err as Error;
    }
  };
  await Promise.all([...byTenant].map(([tenantId, indexes]) => write(tenantId, indexes)));
  return out;
}

/** One attempt (see reportAttempts); throws what it failed with. */
export async function reportAttempt(
  db: Db,
  input: ReportAttemptInput,
  options: ReportOptions & { tenants?: DeliveryTenants } = {},
): Promise<DeliveryRecord> {
  const [answer] = await reportAttempts(db, [input], options);
  if (answer === undefined) throw new BackendError('ERR_INTERNAL', 'reportAttempts answered nothing');
  if (answer instanceof Error) throw answer;
  return answer;
}
