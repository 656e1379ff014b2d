import { newId } from '@zenmesh/crypto';
import type { Db } from '@zenmesh/db';
import { MAX_ATTEMPTS, retryDelaySeconds } from './backoff.js';
import { BackendError, notFound } from './errors.js';
import { EVENT_COLUMNS, type EventRow, toEvent } from './events.js';
import { type DeliveryRecord, type DeliveryRow, type EventRecord, pageSize, toDelivery } from './records.js';
import type { SecretBoxes } from './secrets.js';
import { resolveTenant } from './tenants.js';

const DELIVERY_COLUMNS =
  'id, tenant_id, event_id, endpoint_id, state, attempts, next_attempt_at, last_status_code, last_error, updated_at, lease_token, lease_owner, lease_expires_at';

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
  /** Current signing secret first; during a rotation the previous one follows. */
  signingSecrets: string[];
  leaseToken: string;
  leaseExpiresAt: Date;
}

interface EndpointSecretRow {
  id: string;
  url: string;
  secret_sealed: string;
  previous_secret_sealed: string | null;
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
        'select id, url, secret_sealed, previous_secret_sealed from core.endpoints where tenant_id = $1 and id = any($2)',
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
        if (endpoint.previous_secret_sealed !== null) {
          signingSecrets.push(boxes.endpoint.open(endpoint.previous_secret_sealed, endpoint.id));
        }
        return {
          delivery: toDelivery(row),
          event: toEvent(event),
          endpointUrl: endpoint.url,
          signingSecrets,
          leaseToken: row.lease_token,
          leaseExpiresAt: row.lease_expires_at,
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

/** 2xx is success; everything else (3xx, 4xx including 410, 5xx, no response) is a failed attempt. */
export const isSuccess = (statusCode: number): boolean => statusCode >= 200 && statusCode <= 299;

/**
 * Records one attempt and moves the delivery on, compare-and-set on (id, lease token, lease not
 * expired): a caller whose lease expired or was re-issued gets FAILED_PRECONDITION `lease_lost`, so
 * two egress workers can never both move one delivery.
 */
export async function reportAttempt(
  db: Db,
  input: ReportAttemptInput,
  options: { random?: () => number } = {},
): Promise<DeliveryRecord> {
  if (input.deliveryId.length === 0 || input.deliveryId.length > 64) throw notFound('delivery_not_found');
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
    const error = (input.error ?? '').slice(0, 2000);
    let state: DeliveryRow['state'];
    let delayS: number | null = null;
    if (isSuccess(input.statusCode)) {
      state = 'succeeded';
    } else {
      const delay =
        attempt >= MAX_ATTEMPTS
          ? undefined
          : retryDelaySeconds(attempt, input.retryAfterS ?? 0, options.random);
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
    return toDelivery(row);
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
