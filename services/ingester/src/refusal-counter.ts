import type { Meter } from '@zenmesh/telemetry';

/**
 * A count of refusals by reason code, kept in process (`snapshot`, for tests and the service's own view) and,
 * when a meter is given, exported as the counter `metric{reason}`. Reasons are our own fixed codes
 * (`signature_mismatch`, `rate_limited`, ...), never a value taken from the request.
 */
export interface RefusalCounter {
  increment(reason: string): void;
  snapshot(): Record<string, number>;
}

export function createRefusalCounter(
  meter?: Meter,
  metric = 'zenmesh_ingest_refusals',
  description = 'Webhooks refused by the ingester, by reason',
): RefusalCounter {
  const counts = new Map<string, number>();
  const exported = meter?.createCounter(metric, { description });
  return {
    increment(reason) {
      counts.set(reason, (counts.get(reason) ?? 0) + 1);
      exported?.add(1, { reason });
    },
    snapshot() {
      return Object.fromEntries(counts);
    },
  };
}
