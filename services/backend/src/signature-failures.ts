import type { Db } from '@zenmesh/db';
import { invalid } from './errors.js';
import type { SourceTenants } from './event-batch.js';
import { emitOperationalEvent } from './notifications.js';

/** When a source's invalid signatures are a spike (docs/notifications.md). */
export interface SignatureSpikePolicy {
  /** Invalid signatures of one source within one window that notify the tenant. Default 20. */
  threshold: number;
  /** The window, in seconds (fixed windows aligned on the epoch). Default 300. */
  windowS: number;
}

export const DEFAULT_SIGNATURE_SPIKE: SignatureSpikePolicy = { threshold: 20, windowS: 300 };

export const MAX_REPORTED_SOURCES = 1000;
const MAX_FAILURES_PER_ENTRY = 1_000_000;

export interface SignatureFailureCount {
  sourceId: string;
  failures: number;
}

/**
 * Adds an ingester's counts to each source's current window and notifies the tenant, once per source and
 * window, when the window's total reaches the threshold (the `notified` flag is set compare-and-set, so two
 * ingesters reporting at once notify once). Unknown sources (deleted meanwhile) are skipped. Answers how many
 * sources crossed the threshold with this report.
 */
export async function recordSignatureFailures(
  db: Db,
  sources: SourceTenants,
  counts: readonly SignatureFailureCount[],
  policy: SignatureSpikePolicy = DEFAULT_SIGNATURE_SPIKE,
): Promise<number> {
  if (counts.length > MAX_REPORTED_SOURCES)
    throw invalid(`too_many_sources: at most ${MAX_REPORTED_SOURCES}`);
  const bySource = new Map<string, number>();
  for (const c of counts) {
    if (c.sourceId.length === 0 || c.sourceId.length > 64) throw invalid('invalid_source_id');
    if (!Number.isInteger(c.failures) || c.failures < 1 || c.failures > MAX_FAILURES_PER_ENTRY)
      throw invalid(`invalid_failure_count: 1-${MAX_FAILURES_PER_ENTRY}`);
    bySource.set(c.sourceId, (bySource.get(c.sourceId) ?? 0) + c.failures);
  }
  const byTenant = new Map<string, Array<[string, number]>>();
  for (const [sourceId, n] of bySource) {
    const tenantId = await sources.tenantOf(sourceId).catch(() => undefined);
    if (tenantId === undefined) continue;
    byTenant.set(tenantId, [...(byTenant.get(tenantId) ?? []), [sourceId, n]]);
  }
  let spikes = 0;
  for (const [tenantId, entries] of byTenant) {
    spikes += await db.withTenant(tenantId, async (tx) => {
      let crossed = 0;
      for (const [sourceId, n] of entries) {
        const { rows } = await tx.query<{ window_start: Date; failures: string | number }>(
          `insert into core.signature_failures as s (tenant_id, source_id, window_start, failures)
           values ($1, $2, to_timestamp(floor(extract(epoch from now()) / $4) * $4), $3)
           on conflict (tenant_id, source_id, window_start) do update set failures = s.failures + excluded.failures
           returning window_start, failures`,
          [tenantId, sourceId, n, policy.windowS],
        );
        const row = rows[0];
        if (row === undefined || Number(row.failures) < policy.threshold) continue;
        const { rows: first } = await tx.query(
          `update core.signature_failures set notified = true
            where tenant_id = $1 and source_id = $2 and window_start = $3 and not notified returning 1`,
          [tenantId, sourceId, row.window_start],
        );
        if (first.length === 0) continue;
        crossed += 1;
        await emitOperationalEvent(tx, tenantId, {
          type: 'zenmesh.source.signature_failures',
          subject: `source/${sourceId}`,
          dedupeKey: `source.signature_failures:${sourceId}:${row.window_start.toISOString()}`,
          data: {
            sourceId,
            failures: Number(row.failures),
            threshold: policy.threshold,
            windowStart: row.window_start.toISOString(),
            windowSeconds: policy.windowS,
          },
        });
      }
      return crossed;
    });
  }
  return spikes;
}
