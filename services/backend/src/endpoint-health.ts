import type { Tx } from '@zenmesh/db';
import { type AuditActor, appendAudit } from './audit.js';
import { isSuccess } from './delivery-state.js';
import { endpointSnapshot, lockEndpoint } from './endpoints.js';
import { emitOperationalEvent } from './notifications.js';

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

/** Updates the endpoint's failure streak after one attempt, disabling it (audited) when due. */
export async function recordEndpointHealth(
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
  const { rows: disabled } = await tx.query<{ disabled_at: Date }>(
    `update core.endpoints set enabled = false, disabled_reason = $3, disabled_at = now(), updated_at = now()
      where tenant_id = $1 and id = $2 returning disabled_at`,
    [tenantId, endpointId, reason],
  );
  await appendAudit(tx, tenantId, who, {
    action: 'endpoint.disable',
    target: `endpoint/${endpointId}`,
    before: endpointSnapshot(before),
    after: { ...endpointSnapshot(before), enabled: false, disabledReason: reason },
  });
  // The tenant's notification endpoint hears of it (docs/notifications.md), in this same transaction.
  const at = disabled[0]?.disabled_at ?? new Date();
  await emitOperationalEvent(tx, tenantId, {
    type: 'zenmesh.endpoint.disabled',
    subject: `endpoint/${endpointId}`,
    dedupeKey: `endpoint.disabled:${endpointId}:${at.toISOString()}`,
    data: {
      endpointId,
      url: before.url,
      reason,
      consecutiveFailures: streak.failures,
      lastStatusCode: statusCode,
      disabledAt: at.toISOString(),
    },
  });
}
