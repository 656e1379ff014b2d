import { prepared, type Tx } from '@zenmesh/db';
import { DELIVERY_COLUMNS } from './deliveries.js';
import { ACTIVE_STATES } from './delivery-state.js';
import { BackendError } from './errors.js';
import { type DeliveryRecord, type DeliveryRow, toDelivery } from './records.js';
import { applyReports, type ReportAttemptInput, type ReportOptions } from './report-apply.js';

/** Longest a throttled delivery is put off by one release. */
export const MAX_THROTTLED_MS = 3_600_000;

const D_COLUMNS = DELIVERY_COLUMNS.split(', ')
  .map((c) => `d.${c}`)
  .join(', ');

// Compare-and-set on (id, lease token, lease not expired, active), like an attempt report; attempts,
// state and the endpoint's health stay as they are: the delivery was never sent.
const RELEASE = prepared(
  'zm_release_throttled',
  `update core.deliveries d
      set next_attempt_at = now() + make_interval(secs => v.ms / 1000.0), updated_at = now(),
          lease_token = null, lease_owner = null, lease_expires_at = null
     from unnest($2::text[], $3::text[], $4::integer[]) as v(id, token, ms)
    where d.tenant_id = $1 and d.id = v.id and d.lease_token = v.token and v.token <> ''
      and d.lease_expires_at > now() and d.state = any($5)
   returning ${D_COLUMNS}`,
);

const isRelease = (r: ReportAttemptInput): boolean => (r.throttledMs ?? 0) > 0;

/**
 * Records one tenant's reports in `tx`: attempts through applyReports, and throttled deliveries (egress had
 * no token in the endpoint's rate limit, so it sent nothing) by releasing their lease with the delivery due
 * again after the wait. A throttled delivery is not a failed attempt: it spends no retry, writes no attempt
 * row and does not count against the endpoint's health. A stale lease answers `lease_lost`, as for attempts.
 */
export async function applyReportsAndReleases(
  tx: Tx,
  tenantId: string,
  inputs: ReportAttemptInput[],
  options: ReportOptions = {},
): Promise<Array<DeliveryRecord | BackendError>> {
  if (!inputs.some(isRelease)) return applyReports(tx, tenantId, inputs, options);
  const attempts = inputs.filter((r) => !isRelease(r));
  const releases = inputs.filter(isRelease);
  const attempted = attempts.length === 0 ? [] : await applyReports(tx, tenantId, attempts, options);
  const { rows } = await tx.query<DeliveryRow>(RELEASE, [
    tenantId,
    releases.map((r) => r.deliveryId),
    releases.map((r) => r.leaseToken),
    releases.map((r) => Math.min(Math.floor(r.throttledMs ?? 0), MAX_THROTTLED_MS)),
    ACTIVE_STATES,
  ]);
  const released = new Map(rows.map((row) => [row.id, row]));
  let a = 0;
  return inputs.map((input) => {
    if (!isRelease(input)) return attempted[a++] as DeliveryRecord | BackendError;
    const row = released.get(input.deliveryId);
    // A second release of the same lease in one batch finds it already released.
    released.delete(input.deliveryId);
    return row === undefined ? new BackendError('ERR_FAILED_PRECONDITION', 'lease_lost') : toDelivery(row);
  });
}
