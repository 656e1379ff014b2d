import { newId } from '@zenmesh/crypto';
import type { Db, Tx } from '@zenmesh/db';
import { type AuditActor, appendAudit } from './audit.js';
import { MAX_ATTEMPTS, retryDelaySeconds } from './backoff.js';
import { endpointSnapshot, lockEndpoint } from './endpoints.js';
import { BackendError, notFound } from './errors.js';
import { EVENT_COLUMNS, type EventRow, toEvent } from './events.js';
import {
  type CloudEventsMode,
  type DeliveryRecord,
  type DeliveryRow,
  type EventRecord,
  pageSize,
  toDelivery,
} from './records.js';
import type { SecretBoxes } from './secrets.js';
import { resolveTenant } from './tenants.js';

export const DELIVERY_COLUMNS =
  'id, tenant_id, event_id, endpoint_id, state, attempts, next_attempt_at, last_status_code, last_error, updated_at, lease_token, lease_owner, lease_expires_at, attempts_at_replay, replays, dead_at';

export interface LeaseOptions {
  /** Most deliveries to claim; default 10, at most 100. */
  max?: number;
  /** Lease length; default 30 s, clamped to [1 s, 10 min]. */
  leaseMs?: number;
  /** Only deliveries of this event. */
  eventId?: string;
  /** Who holds the lease (the caller's SPIFFE ID), kept for diagnosis. */
  owner?: string;
}

export interface LeasedDeliveryRecord {
  delivery: DeliveryRecord;
  event: EventRecord;
  endpointUrl: string;
  /** Current signing secret first; during a rotation (until it expires) the previous one follows. */
  signingSecrets: string[];
  leaseToken: string;
  leaseExpiresAt: Date;
  cloudeventsMode: CloudEventsMode;
  /** The endpoint's mTLS client identity, when it has one. */
  clientCertPem: string;
  clientKeyPem: string;
}

interface EndpointSecretRow {
  id: string;
  url: string;
  secret_sealed: string;
  previous_secret_sealed: string | null;
  previous_valid: boolean;
  cloudevents_mode: CloudEventsMode;
  client_cert_pem: string | null;
  client_key_sealed: string | null;
}

const clamp = (v: number, lo: number, hi: number): number => Math.min(Math.max(v, lo), hi);

/**
 * Claims due deliveries across tenants (core.lease_deliveries: FOR UPDATE SKIP LOCKED, a fresh random
 * lease token and expiry each), then reads each one's event and endpoint inside its own tenant's scope.
 * A lease that is never reported simply expires and the delivery becomes due again: a crashed egress
 * loses nothing.
 */
export async function leaseDeliveries(
  db: Db,
  boxes: SecretBoxes,
  options: LeaseOptions = {},
): Promise<LeasedDeliveryRecord[]> {
  const max = options.max === undefined || options.max <= 0 ? 10 : clamp(Math.floor(options.max), 1, 100);
  const leaseMs =
    options.leaseMs === undefined || options.leaseMs <= 0
      ? 30_000
      : clamp(Math.floor(options.leaseMs), 1000, 600_000);
  const { rows: claimed } = await db.query<DeliveryRow>(
    `select ${DELIVERY_COLUMNS} from core.lease_deliveries($1, $2, $3, $4)`,
    [max, leaseMs, options.eventId || null, options.owner ?? null],
  );
  const byTenant = new Map<string, DeliveryRow[]>();
  for (const row of claimed) byTenant.set(row.tenant_id, [...(byTenant.get(row.tenant_id) ?? []), row]);

  const out: LeasedDeliveryRecord[] = [];
  for (const [tenantId, rows] of byTenant) {
    const leased = await db.withTenant(tenantId, async (tx) => {
      const events = await tx.query<EventRow>(
        `select ${EVENT_COLUMNS} from core.events where tenant_id = $1 and id = any($2)`,
        [tenantId, [...new Set(rows.map((r) => r.event_id))]],
      );
      const endpoints = await tx.query<EndpointSecretRow>(
        `select id, url, secret_sealed, previous_secret_sealed, cloudevents_mode, client_cert_pem, client_key_sealed,
                coalesce(previous_secret_expires_at > now(), true) as previous_valid
           from core.endpoints where tenant_id = $1 and id = any($2)`,
        [tenantId, [...new Set(rows.map((r) => r.endpoint_id))]],
      );
      const eventById = new Map(events.rows.map((e) => [e.id, e]));
      const endpointById = new Map(endpoints.rows.map((e) => [e.id, e]));
      return rows.map((row): LeasedDeliveryRecord => {
        const event = eventById.get(row.event_id);
        const endpoint = endpointById.get(row.endpoint_id);
        if (
          event === undefined ||
          endpoint === undefined ||
          row.lease_token === null ||
          row.lease_expires_at === null
        ) {
          throw new Error(`leased delivery ${row.id} is missing its event, endpoint or lease`);
        }
        const signingSecrets = [boxes.endpoint.open(endpoint.secret_sealed, endpoint.id)];
        if (endpoint.previous_secret_sealed !== null && endpoint.previous_valid) {
          signingSecrets.push(boxes.endpoint.open(endpoint.previous_secret_sealed, endpoint.id));
        }
        return {
          delivery: toDelivery(row),
          event: toEvent(event),
          endpointUrl: endpoint.url,
          signingSecrets,
          leaseToken: row.lease_token,
          leaseExpiresAt: row.lease_expires_at,
          cloudeventsMode: endpoint.cloudevents_mode,
          clientCertPem: endpoint.client_cert_pem ?? '',
          clientKeyPem:
            endpoint.client_key_sealed === null
              ? ''
              : boxes.clientKey.open(endpoint.client_key_sealed, endpoint.id),
        };
      });
    });
    out.push(...leased);
  }
  return out;
}

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

/** 2xx is success; everything else (3xx, 4xx, 5xx, no response) is a failed attempt. */
export const isSuccess = (statusCode: number): boolean => statusCode >= 200 && statusCode <= 299;

/** When an endpoint that keeps failing is disabled (its deliveries are kept, paused, not dropped). */
export interface EndpointHealthPolicy {
  /** Failing without a single success for at least this long... Default 3 days. */
  disableAfterMs: number;
  /** ...and at least this many failed attempts in a row. Default 10. */
  disableAfterFailures: number;
}

export const DEFAULT_ENDPOINT_HEALTH: EndpointHealthPolicy = {
  disableAfterMs: 72 * 3600 * 1000,
  disableAfterFailures: 10,
};

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
          and state in ('pending', 'retrying')
        for update`,
      [input.deliveryId, input.leaseToken, tenantId],
    );
    const current = held[0];
    if (current === undefined || input.leaseToken.length === 0) {
      throw new BackendError('ERR_FAILED_PRECONDITION', 'lease_lost');
    }
    const attempt = current.attempts + 1;
    // A replay starts a fresh schedule: only attempts since the last replay count against it.
    const inRound = attempt - current.attempts_at_replay;
    const error = (input.error ?? '').slice(0, 2000);
    const success = isSuccess(input.statusCode);
    let state: DeliveryRow['state'];
    let delayS: number | null = null;
    if (success) {
      state = 'succeeded';
    } else {
      const delay =
        inRound >= MAX_ATTEMPTS
          ? undefined
          : retryDelaySeconds(inRound, input.retryAfterS ?? 0, options.random);
      if (delay === undefined) {
        state = 'dead';
      } else {
        state = 'retrying';
        delayS = delay;
      }
    }
    const { rows: updated } = await tx.query<DeliveryRow>(
      `update core.deliveries
          set state = $3, attempts = $4,
              next_attempt_at = case when $5::float8 is null then null else now() + make_interval(secs => $5::float8) end,
              last_status_code = $6, last_error = $7, updated_at = now(),
              dead_at = case when $3 = 'dead' then now() else null end,
              lease_token = null, lease_owner = null, lease_expires_at = null
        where tenant_id = $8 and id = $1 and lease_token = $2
        returning ${DELIVERY_COLUMNS}`,
      [
        input.deliveryId,
        input.leaseToken,
        state,
        attempt,
        delayS,
        input.statusCode,
        error === '' ? null : error,
        tenantId,
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
        attempt,
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

/** Updates the endpoint's failure streak after one attempt, disabling it (audited) when due. */
async function recordEndpointHealth(
  tx: Tx,
  tenantId: string,
  endpointId: string,
  statusCode: number,
  health: EndpointHealthPolicy,
  who: AuditActor,
): Promise<void> {
  if (isSuccess(statusCode)) {
    // Only touches (and locks) the row when there is a streak to clear: the common path stays lock-free.
    await tx.query(
      `update core.endpoints set failing_since = null, consecutive_failures = 0
        where tenant_id = $1 and id = $2 and (failing_since is not null or consecutive_failures <> 0)`,
      [tenantId, endpointId],
    );
    return;
  }
  const before = await lockEndpoint(tx, tenantId, endpointId);
  const { rows } = await tx.query<{ failures: number; failing_ms: number }>(
    `update core.endpoints
        set consecutive_failures = consecutive_failures + 1, failing_since = coalesce(failing_since, now())
      where tenant_id = $1 and id = $2
      returning consecutive_failures as failures,
                (extract(epoch from (now() - failing_since)) * 1000)::float8 as failing_ms`,
    [tenantId, endpointId],
  );
  const streak = rows[0];
  if (streak === undefined || !before.enabled) return;
  const reason =
    statusCode === 410
      ? 'gone'
      : streak.failures >= health.disableAfterFailures && streak.failing_ms >= health.disableAfterMs
        ? 'failing'
        : undefined;
  if (reason === undefined) return;
  await tx.query(
    `update core.endpoints set enabled = false, disabled_reason = $3, disabled_at = now(), updated_at = now()
      where tenant_id = $1 and id = $2`,
    [tenantId, endpointId, reason],
  );
  await appendAudit(tx, tenantId, who, {
    action: 'endpoint.disable',
    target: `endpoint/${endpointId}`,
    before: endpointSnapshot(before),
    after: { ...endpointSnapshot(before), enabled: false, disabledReason: reason },
  });
}

export async function listDeliveries(
  db: Db,
  tenantRef: string,
  options: { limit?: number; eventId?: string } = {},
): Promise<DeliveryRecord[]> {
  const tenant = await resolveTenant(db, tenantRef);
  return db.withTenant(tenant.id, async (tx) => {
    const { rows } = await tx.query<DeliveryRow>(
      `select ${DELIVERY_COLUMNS} from core.deliveries
        where tenant_id = $3 and ($1::text is null or event_id = $1)
        order by updated_at desc, id desc limit $2`,
      [options.eventId || null, pageSize(options.limit, 50, 500), tenant.id],
    );
    return rows.map(toDelivery);
  });
}

export interface AttemptRecord {
  id: string;
  deliveryId: string;
  attempt: number;
  statusCode: number;
  error: string;
  durationMs: number;
  createdAt: Date;
}

export async function listAttempts(db: Db, tenantId: string, deliveryId: string): Promise<AttemptRecord[]> {
  return db.withTenant(tenantId, async (tx) => {
    const { rows } = await tx.query<{
      id: string;
      delivery_id: string;
      attempt: number;
      status_code: number;
      error: string;
      duration_ms: number;
      created_at: Date;
    }>(
      `select id, delivery_id, attempt, status_code, error, duration_ms, created_at
         from core.attempts where tenant_id = $1 and delivery_id = $2 order by attempt`,
      [tenantId, deliveryId],
    );
    return rows.map((r) => ({
      id: r.id,
      deliveryId: r.delivery_id,
      attempt: r.attempt,
      statusCode: r.status_code,
      error: r.error,
      durationMs: r.duration_ms,
      createdAt: r.created_at,
    }));
  });
}
