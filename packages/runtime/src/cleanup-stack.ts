/** Steps that undo a start, run last-in first-out: what was opened last is closed first. */
export interface CleanupStack {
  /** Registers one step (closing a channel, a database, stopping an engine). */
  defer(step: () => void | Promise<void>): void;
  /**
   * Runs every registered step once, newest first, each after the previous one settled. A failing step is
   * reported to `onError` and the rest still run, so one bad close never leaks the others.
   */
  run(onError: (err: unknown) => void): Promise<void>;
}

export function createCleanupStack(): CleanupStack {
  const steps: Array<() => void | Promise<void>> = [];
  return {
    defer(step) {
      steps.push(step);
    },
    async run(onError) {
      for (let step = steps.pop(); step !== undefined; step = steps.pop()) {
        try {
          await step();
        } catch (err) {
          onError(err);
        }
      }
    },
  };
}
