import { newId } from '@zenmesh/crypto';
import type { Db } from '@zenmesh/db';
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
 * Records one attempt and moves the delivery on, compare-and-set on (id, lease token, lease not
 * expired): a caller whose lease expired or was re-issued gets FAILED_PRECONDITION `lease_lost`, so
 * two egress workers can never both move one delivery. In the same transaction the endpoint's health
 * is updated: a success clears its failure streak; 410 Gone disables it at once (RFC 9110 §15.5.11:
 * the target is gone for good); a streak of failures long enough disables it too. A disabled
 * endpoint's deliveries are kept as they are and resume when it is enabled again.
 */
export async function reportAttempt(
  db: Db,
  input: ReportAttemptInput,
  options: ReportOptions = {},
): Promise<DeliveryRecord> {
  if (input.deliveryId.length === 0 || input.deliveryId.length > 64) throw notFound('delivery_not_found');
  const health = options.health ?? DEFAULT_ENDPOINT_HEALTH;
  const { rows: owner } = await db.query<{ tenant_id: string | null }>(
    'select core.delivery_tenant($1) as tenant_id',
    [input.deliveryId],
  );
  const tenantId = owner[0]?.tenant_id;
  if (tenantId === null || tenantId === undefined) throw notFound('delivery_not_found');

  return db.withTenant(tenantId, async (tx) => {
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
  });
}
