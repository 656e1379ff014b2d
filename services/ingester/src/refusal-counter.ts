/**
 * An in-process count of refusals by reason code. A stand-in until metrics are exported through
 * OpenTelemetry; kept behind this small interface so the swap touches one file.
 */
export interface RefusalCounter {
  increment(reason: string): void;
  snapshot(): Record<string, number>;
}

export function createRefusalCounter(): RefusalCounter {
  const counts = new Map<string, number>();
  return {
    increment(reason) {
      counts.set(reason, (counts.get(reason) ?? 0) + 1);
    },
    snapshot() {
      return Object.fromEntries(counts);
    },
  };
}
