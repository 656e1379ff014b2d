/** A background step run on an interval, never overlapping itself. */
export interface IntervalRunner {
  start(): void;
  /** Stops the interval and waits for a run in progress. */
  stop(): Promise<void>;
}

/**
 * Runs `step` every `intervalMs` (unref'd: it never keeps the process alive); a tick that finds the previous
 * run still going is skipped, and a failed run is reported to `onError` and tried again at the next tick.
 */
export function createIntervalRunner(
  step: () => Promise<unknown>,
  intervalMs: number,
  onError: (err: unknown) => void,
): IntervalRunner {
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<unknown> | undefined;
  return {
    start() {
      if (timer !== undefined) return;
      timer = setInterval(() => {
        if (running !== undefined) return;
        running = step()
          .catch(onError)
          .finally(() => {
            running = undefined;
          });
      }, intervalMs);
      timer.unref();
    },
    async stop() {
      if (timer !== undefined) clearInterval(timer);
      timer = undefined;
      await running;
    },
  };
}
