import type { Logger } from '@zenmesh/telemetry';

/** At most this many sources per report (the backend refuses more); further sources wait for the next one. */
const MAX_SOURCES_PER_REPORT = 1000;
/** Sources remembered between reports; past it, counts of new sources are dropped (and logged once). */
const MAX_TRACKED_SOURCES = 10_000;

export interface SignatureFailureReporterOptions {
  /** SourceService.ReportSignatureFailures. */
  report: (counts: Array<{ sourceId: string; failures: number }>) => Promise<unknown>;
  /** Between reports; default 5 s. */
  intervalMs?: number;
  logger?: Pick<Logger, 'warn'>;
}

export interface SignatureFailureReporter {
  /** One invalid signature of a (resolved) source: a map increment, no I/O. */
  count(sourceId: string): void;
  /** Sends what was counted (at most 1000 sources); a failed report keeps its counts for the next one. */
  flush(): Promise<void>;
  start(): void;
  /** Stops the timer and sends what is left. */
  stop(): Promise<void>;
}

/**
 * The ingester's side of the signature-failure spike notice (docs/notifications.md): refusals are counted in
 * memory per source and reported to the backend in one call every few seconds, only when there is something
 * to report, so a webhook never waits on it and an accepted webhook never touches it.
 */
export function createSignatureFailureReporter(
  options: SignatureFailureReporterOptions,
): SignatureFailureReporter {
  const counts = new Map<string, number>();
  let timer: NodeJS.Timeout | undefined;
  let inFlight: Promise<void> | undefined;
  let warnedFull = false;

  const flush = async (): Promise<void> => {
    if (inFlight !== undefined) return inFlight;
    if (counts.size === 0) return;
    const batch = [...counts].slice(0, MAX_SOURCES_PER_REPORT);
    for (const [id] of batch) counts.delete(id);
    inFlight = options
      .report(batch.map(([sourceId, failures]) => ({ sourceId, failures })))
      .then(() => undefined)
      .catch((err: unknown) => {
        // Kept for the next report: a backend restart loses no count.
        for (const [id, n] of batch) counts.set(id, (counts.get(id) ?? 0) + n);
        options.logger?.warn({ err }, 'signature failure report failed; kept for the next one');
      })
      .finally(() => {
        inFlight = undefined;
      });
    return inFlight;
  };

  return {
    count(sourceId) {
      const n = counts.get(sourceId);
      if (n !== undefined) {
        counts.set(sourceId, Math.min(n + 1, 1_000_000));
        return;
      }
      if (counts.size >= MAX_TRACKED_SOURCES) {
        if (!warnedFull)
          options.logger?.warn('signature failure counts full; dropping new sources until the next report');
        warnedFull = true;
        return;
      }
      counts.set(sourceId, 1);
    },
    flush,
    start() {
      if (timer !== undefined) return;
      timer = setInterval(() => {
        warnedFull = false;
        void flush();
      }, options.intervalMs ?? 5000);
      timer.unref();
    },
    async stop() {
      if (timer !== undefined) clearInterval(timer);
      timer = undefined;
      await inFlight;
      await flush();
    },
  };
}
