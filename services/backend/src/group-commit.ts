/**
 * Group commit: calls that arrive while earlier batches are being written wait and go together in the next
 * one, so N concurrent RecordEvent (or ReportAttempt) calls cost one transaction instead of N. Nothing is
 * added when the store is idle — a call that finds a free slot runs at once, alone — and every caller is
 * answered only when the batch that holds its item has committed (or failed).
 */
export interface GroupCommitOptions<I, O> {
  /**
   * Writes a batch and answers each item in order: a value, or the Error that item alone failed with.
   * A throw fails the whole batch; each item is then retried alone, so one bad item cannot fail the others.
   */
  run: (items: I[]) => Promise<Array<O | Error>>;
  /** Most items in one batch. Default 64. */
  maxBatch?: number;
  /** Batches being written at once (each takes a pooled connection). Default 2. */
  maxInFlight?: number;
}

interface Waiting<I, O> {
  item: I;
  resolve: (value: O) => void;
  reject: (err: unknown) => void;
}

export type GroupCommit<I, O> = (item: I) => Promise<O>;

export function createGroupCommit<I, O>(options: GroupCommitOptions<I, O>): GroupCommit<I, O> {
  const { run, maxBatch = 64, maxInFlight = 2 } = options;
  const queue: Array<Waiting<I, O>> = [];
  let inFlight = 0;

  const settle = (waiting: Waiting<I, O>, outcome: O | Error | undefined): void => {
    if (outcome instanceof Error) waiting.reject(outcome);
    else if (outcome === undefined) waiting.reject(new TypeError('group commit: no answer for an item'));
    else waiting.resolve(outcome);
  };

  async function write(batch: Array<Waiting<I, O>>): Promise<void> {
    try {
      const outcomes = await run(batch.map((w) => w.item));
      for (const [i, w] of batch.entries()) settle(w, outcomes[i]);
    } catch (err) {
      if (batch.length === 1) {
        (batch[0] as Waiting<I, O>).reject(err);
        return;
      }
      // Which item broke the transaction is unknown: each is written again on its own.
      await Promise.all(batch.map((w) => write([w])));
    }
  }

  function pump(): void {
    while (inFlight < maxInFlight && queue.length > 0) {
      const batch = queue.splice(0, maxBatch);
      inFlight++;
      void write(batch).finally(() => {
        inFlight--;
        pump();
      });
    }
  }

  return (item) =>
    new Promise<O>((resolve, reject) => {
      queue.push({ item, resolve, reject });
      pump();
    });
}
