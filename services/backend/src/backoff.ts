/**
 * Retry schedule for failed deliveries: the delay after the n-th failed attempt is
 * RETRY_DELAYS_S[n - 1], jittered by ±20 % so endpoints that failed together are not retried in
 * lockstep. 5 s, 30 s, 2 min, 10 min, 30 min, 1 h, 2 h, 4 h, 8 h, then every 12 h: 15 attempts over
 * about 3.2 days (272 555 s nominal), after which the delivery is dead (dead letter, replayable).
 *
 * Retry-After (RFC 9110 §10.2.3) can only postpone: the target's value, clamped to [1 s, 24 h], is a
 * floor under the scheduled delay, so a target answering "Retry-After: 1" cannot burn the whole
 * budget in seconds, and one asking for hours gets them.
 */
export const RETRY_DELAYS_S: readonly number[] = [
  5, 30, 120, 600, 1800, 3600, 7200, 14_400, 28_800, 43_200, 43_200, 43_200, 43_200, 43_200,
];

/** Attempts a delivery gets in total: the first one plus one per scheduled retry. */
export const MAX_ATTEMPTS = RETRY_DELAYS_S.length + 1;

export const JITTER = 0.2;
export const RETRY_AFTER_MIN_S = 1;
export const RETRY_AFTER_MAX_S = 86_400;

/**
 * Seconds to wait after failed attempt number `attempt` (1-based), or `undefined` when that was the
 * last one. `random` returns [0, 1) and is injectable so tests can pin the jitter to its bounds.
 */
export function retryDelaySeconds(
  attempt: number,
  retryAfterS = 0,
  random: () => number = Math.random,
): number | undefined {
  if (!Number.isInteger(attempt) || attempt < 1) throw new TypeError('attempt must be a positive integer');
  const base = RETRY_DELAYS_S[attempt - 1];
  if (base === undefined) return undefined;
  const jittered = base * (1 - JITTER + 2 * JITTER * random());
  if (retryAfterS <= 0) return jittered;
  const floor = Math.min(Math.max(retryAfterS, RETRY_AFTER_MIN_S), RETRY_AFTER_MAX_S);
  return Math.max(jittered, floor);
}
