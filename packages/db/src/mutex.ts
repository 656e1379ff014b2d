/** A FIFO async mutex: PGlite has one connection, so each transaction must run alone. */
export interface Mutex {
  run<T>(fn: () => Promise<T>): Promise<T>;
}

export function createMutex(): Mutex {
  let tail: Promise<unknown> = Promise.resolve();
  return {
    run<T>(fn: () => Promise<T>): Promise<T> {
      const result = tail.then(fn);
      // The next waiter starts after this one settles, whether it failed or not.
      tail = result.catch(() => undefined);
      return result;
    },
  };
}
