import { newId } from '@zenmesh/crypto';
import { prepared, type Tx } from '@zenmesh/db';
import { DELIVERY_COLUMNS } from './deliveries.js';
import { ACTIVE_STATES, isSuccess, nextStateAfterAttempt } from './delivery-state.js';
import {
  DEFAULT_ENDPOINT_HEALTH,
  type EndpointHealthPolicy,
  recordEndpointHealth,
} from './endpoint-health.js';
import { BackendError } from './errors.js';
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
  /** Not an attempt: egress found no token in the endpoint's rate limit (lease-release.ts). */
  throttledMs?: number;
}

export interface ReportOptions {
  random?: (() => number) | undefined;
  health?: EndpointHealthPolicy | undefined;
  /** Recorded as `via` when the backend disables an endpoint on egress's report. */
  reporter?: string | undefined;
}

const D_COLUMNS = DELIVERY_COLUMNS.split(', ')
  .map((c) => `d.${c}`)
  .join(', ');

// Constant texts (arrays, not per-call placeholders): prepared once per connection.
const LOCK_LEASED = prepared(
  'zm_report_lock',
  `select ${D_COLUMNS} from core.deliveries d
       join unnest($2::text[], $3::text[]) as r(id, token) on d.id = r.id and d.lease_token = r.token
      where d.tenant_id = $1 and d.lease_expires_at > now() and d.state = any($4)
      order by d.id
      for update of d`,
);
// The moves, their attempt rows and the clearing of the streaks of endpoints that only succeeded, in one
// statement (one round trip): the update is the compare-and-set on (id, lease token, state read); the
// attempts are inserted for every move the caller computed, so a move that matched no row fails the whole
// transaction (checked below: the rows were locked, so that would be a broken store).
const WRITE_MOVES = prepared(
  'zm_report_write',
  `with moved as (
     update core.deliveries d
        set state = v.state, attempts = v.attempt,
            next_attempt_at = case when v.delay is null then null else now() + make_interval(secs => v.delay) end,
            last_status_code = v.code, last_error = v.error, updated_at = now(),
            dead_at = case when v.state = 'dead' then now() else null end,
            lease_token = null, lease_owner = null, lease_expires_at = null
       from unnest($2::text[], $3::text[], $4::text[], $5::integer[], $6::float8[], $7::integer[], $8::text[], $9::text[])
            as v(id, token, state, attempt, delay, code, error, prev)
      where d.tenant_id = $1 and d.id = v.id and d.lease_token = v.token and d.state = v.prev
      returning ${D_COLUMNS}
   ), attempts as (
     insert into core.attempts (id, tenant_id, delivery_id, attempt, status_code, error, duration_ms, lease_owner)
     select a, $1, d, n, c, e, ms, o
       from unnest($10::text[], $2::text[], $5::integer[], $7::integer[], $11::text[], $12::integer[], $13::text[])
            as t(a, d, n, c, e, ms, o)
   ), health as (
     update core.endpoints set failing_since = null, consecutive_failures = 0
      where tenant_id = $1 and id = any($14::text[]) and (failing_since is not null or consecutive_failures <> 0)
   )
   select * from moved`,
);

const leaseLost = () => new BackendError('ERR_FAILED_PRECONDITION', 'lease_lost');

/**
 * Records attempts of one tenant's deliveries in its transaction `tx`, each compare-and-set on (id, lease
 * token, lease not expired, state read): a report whose lease expired or was re-issued answers
 * `lease_lost` and writes nothing, so two egress workers can never both move one delivery. The whole batch
 * costs two statements (lock; then update, attempts insert and health in one) rather than four per report. The
 * endpoint's health follows each attempt in order: a success clears its failure streak; 410 Gone disables
 * it at once (RFC 9110 §15.5.11); a streak of failures long enough disables it too (audited). A disabled
 * endpoint's deliveries are kept as they are and resume when it is enabled again.
 */
export async function applyReports(
  tx: Tx,
  tenantId: string,
  inputs: ReportAttemptInput[],
  options: ReportOptions = {},
): Promise<Array<DeliveryRecord | BackendError>> {
  const health = options.health ?? DEFAULT_ENDPOINT_HEALTH;
  const claims = inputs.filter((r) => r.leaseToken.length > 0);
  const { rows: held } = await tx.query<DeliveryRow>(LOCK_LEASED, [
    tenantId,
    claims.map((r) => r.deliveryId),
    claims.map((r) => r.leaseToken),
    ACTIVE_STATES,
  ]);
  const heldById = new Map(held.map((row) => [row.id, row]));
  const moves = inputs.map((input) => {
    const current = input.leaseToken.length > 0 ? heldById.get(input.deliveryId) : undefined;
    if (current === undefined) return undefined;
    // A second report of the same lease in one batch finds it already taken by the first.
    heldById.delete(input.deliveryId);
    const next = nextStateAfterAttempt(
      { state: current.state, attempts: current.attempts, attemptsAtReplay: current.attempts_at_replay },
      { statusCode: input.statusCode, retryAfterS: input.retryAfterS ?? 0 },
      options.random,
    );
    return { input, current, next, error: (input.error ?? '').slice(0, 2000) };
  });
  const live = moves.filter((m) => m !== undefined);
  if (live.length === 0) return inputs.map(leaseLost);

  // In endpoint id order, as RecordEvent inserts: two transactions never take two endpoints' locks crosswise.
  const byEndpoint = new Map(
    [...Map.groupBy(live, (m) => m.current.endpoint_id)].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
  );
  const clean = [...byEndpoint]
    .filter(([, ms]) => ms.every((m) => isSuccess(m.input.statusCode)))
    .map(([id]) => id);
  const { rows: updated } = await tx.query<DeliveryRow>(WRITE_MOVES, [
    tenantId,
    live.map((m) => m.input.deliveryId),
    live.map((m) => m.input.leaseToken),
    live.map((m) => m.next.state),
    live.map((m) => m.next.attempt),
    live.map((m) => m.next.delayS),
    live.map((m) => m.input.statusCode),
    live.map((m) => (m.error === '' ? null : m.error)),
    live.map((m) => m.current.state),
    live.map(() => newId('att')),
    live.map((m) => m.error),
    live.map((m) => Math.max(0, Math.floor(m.input.durationMs ?? 0))),
    live.map((m) => m.current.lease_owner),
    clean,
  ]);
  const updatedById = new Map(updated.map((row) => [row.id, row]));
  // Only rows locked above are updated, so every live move has its row; anything else is a broken store.
  if (updated.length !== live.length) throw new BackendError('ERR_INTERNAL', 'attempt report lost its lock');
  await recordFailures(tx, tenantId, byEndpoint, clean, health, options.reporter);
  return moves.map((m) => {
    const row = m === undefined ? undefined : updatedById.get(m.input.deliveryId);
    return row === undefined ? leaseLost() : toDelivery(row);
  });
}

/**
 * Endpoints that only succeeded in this batch had their streak cleared with the moves (WRITE_MOVES); an
 * endpoint with a failure among them is updated attempt by attempt, in order.
 */
async function recordFailures(
  tx: Tx,
  tenantId: string,
  byEndpoint: Map<string, Array<{ input: ReportAttemptInput; current: DeliveryRow }>>,
  clean: readonly string[],
  health: EndpointHealthPolicy,
  reporter: string | undefined,
): Promise<void> {
  for (const [endpointId, ms] of byEndpoint) {
    if (clean.includes(endpointId)) continue;
    for (const m of ms) {
      await recordEndpointHealth(tx, tenantId, endpointId, m.input.statusCode, health, {
        actor: 'system',
        via: reporter ?? m.current.lease_owner ?? '',
      });
    }
  }
}
