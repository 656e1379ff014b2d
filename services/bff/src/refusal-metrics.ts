/**
 * Refusals by reason, read from the services' own Prometheus counters: `zenmesh_ingest_refusals_total{reason}`
 * (webhooks the ingester refused) and `zenmesh_rpc_refusals_total{reason}` (mesh calls refused before a
 * handler). These counters are the services' own record of every refusal (the backend stores none: a refused
 * webhook is, by design, never written), so they are the honest source. They count since each process
 * started and are cluster-wide (a reason has no tenant), which is why only the cluster's owner reads them.
 */
export const REFUSAL_METRICS = {
  ingest: 'zenmesh_ingest_refusals_total',
  rpc: 'zenmesh_rpc_refusals_total',
} as const;
export type RefusalKind = keyof typeof REFUSAL_METRICS;

const LINE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)\{(.*)\}\s+(\S+)(?:\s+\d+)?$/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"\s*,?\s*/y;
/** Our reason codes are short snake_case (or an operator sentence the CA gives); anything else is dropped. */
const REASON = /^[\w .:,'()-]{1,120}$/;

function labelsOf(text: string): Map<string, string> | null {
  const labels = new Map<string, string>();
  LABEL.lastIndex = 0;
  while (LABEL.lastIndex < text.length) {
    const m = LABEL.exec(text);
    if (m === null) return null;
    labels.set(
      m[1] as string,
      (m[2] as string).replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c)),
    );
  }
  return labels;
}

/** Sums the refusal counters of one Prometheus text exposition by kind and reason. */
export function parseRefusals(text: string, into: Record<RefusalKind, Record<string, number>>): void {
  for (const raw of text.split('\n')) {
    const m = LINE.exec(raw.trim());
    if (m === null) continue;
    const kind = (Object.keys(REFUSAL_METRICS) as RefusalKind[]).find((k) => REFUSAL_METRICS[k] === m[1]);
    if (kind === undefined) continue;
    const value = Number(m[3]);
    const reason = labelsOf(m[2] as string)?.get('reason');
    if (reason === undefined || !REASON.test(reason) || !Number.isFinite(value) || value < 0) continue;
    into[kind][reason] = (into[kind][reason] ?? 0) + value;
  }
}

export interface RefusalSnapshot {
  ingest: Record<string, number>;
  rpc: Record<string, number>;
  /** Every scrape target and whether it answered: a figure that misses a service says so. */
  targets: Array<{ url: string; ok: boolean; error?: string }>;
  at: string;
}

const MAX_BYTES = 1 << 20;

/** Scrapes every URL (2 s each, at most 1 MiB) and sums what answered. */
export async function scrapeRefusals(
  urls: readonly string[],
  fetchImpl: typeof fetch = fetch,
): Promise<RefusalSnapshot> {
  const sums: Record<RefusalKind, Record<string, number>> = { ingest: {}, rpc: {} };
  const targets = await Promise.all(
    urls.map(async (url) => {
      try {
        const res = await fetchImpl(url, { signal: AbortSignal.timeout(2000), redirect: 'error' });
        if (!res.ok) return { url, ok: false, error: `HTTP ${res.status}` };
        const text = await res.text();
        if (text.length > MAX_BYTES) return { url, ok: false, error: 'answer too large' };
        parseRefusals(text, sums);
        return { url, ok: true };
      } catch (err) {
        return { url, ok: false, error: (err as Error).name === 'TimeoutError' ? 'timeout' : 'unreachable' };
      }
    }),
  );
  return { ...sums, targets, at: new Date().toISOString() };
}
