import { MAX_ATTEMPTS, retryDelaySeconds } from './backoff.js';

/**
 * The delivery state machine (DESIGN.md "Data"): every state a delivery can be in, every move between them,
 * and the pure decision of the next state after an attempt. The SQL (`delivery-report.ts`, `replay.ts`) only
 * writes what this file decides, compare-and-set on the state it read, so two writers never both move one
 * delivery.
 *
 *   pending ──attempt──▶ succeeded | retrying | dead
 *   retrying ─attempt──▶ succeeded | retrying | dead
 *   any (not leased) ─replay─▶ pending (a fresh retry schedule)
 *
 * Leasing does not change the state: a lease (token + expiry) only says who may report the next attempt.
 */
export const DELIVERY_STATES = ['pending', 'retrying', 'succeeded', 'dead'] as const;
export type DeliveryStateName = (typeof DELIVERY_STATES)[number];

/** States whose delivery is due for an attempt (leased from, and reported on). */
export const ACTIVE_STATES: readonly DeliveryStateName[] = ['pending', 'retrying'];

/** States a replay leaves from: all of them (a delivery under a live lease is skipped, not moved). */
export const REPLAYABLE_STATES: readonly DeliveryStateName[] = DELIVERY_STATES;

export type DeliveryTransition = 'attempt' | 'replay';

/** Every allowed move, by what causes it. Anything not listed never happens. */
export const TRANSITIONS: Readonly<
  Record<DeliveryTransition, Readonly<Record<DeliveryStateName, readonly DeliveryStateName[]>>>
> = {
  attempt: {
    pending: ['succeeded', 'retrying', 'dead'],
    retrying: ['succeeded', 'retrying', 'dead'],
    succeeded: [],
    dead: [],
  },
  replay: {
    pending: ['pending'],
    retrying: ['pending'],
    succeeded: ['pending'],
    dead: ['pending'],
  },
};

export const canTransition = (
  cause: DeliveryTransition,
  from: DeliveryStateName,
  to: DeliveryStateName,
): boolean => TRANSITIONS[cause][from].includes(to);

/** 2xx is success; everything else (3xx, 4xx, 5xx, no response) is a failed attempt. */
export const isSuccess = (statusCode: number): boolean => statusCode >= 200 && statusCode <= 299;

/** What the backend knows of a delivery when an attempt is reported. */
export interface DeliveryProgress {
  state: DeliveryStateName;
  /** Attempts made so far, over its whole life. */
  attempts: number;
  /** `attempts` when it was last replayed (0 if never): a replay starts a fresh schedule. */
  attemptsAtReplay: number;
}

export interface AttemptOutcome {
  /** 0 when no HTTP response was received. */
  statusCode: number;
  /** Seconds from the target's Retry-After header; 0 when absent. */
  retryAfterS: number;
}

export type NextState =
  | { state: 'succeeded'; attempt: number; delayS: null }
  | { state: 'retrying'; attempt: number; delayS: number }
  | { state: 'dead'; attempt: number; delayS: null };

/**
 * The state after one attempt: succeeded on 2xx; otherwise retrying after the scheduled, jittered delay
 * (Retry-After can only postpone it, `backoff.ts`), or dead once this round's attempts are spent. `attempt`
 * is the number this attempt gets. A delivery that is not active has no attempt to report: TypeError.
 */
export function nextStateAfterAttempt(
  current: DeliveryProgress,
  outcome: AttemptOutcome,
  random: () => number = Math.random,
): NextState {
  if (!ACTIVE_STATES.includes(current.state)) {
    throw new TypeError(`nextStateAfterAttempt: a ${current.state} delivery takes no attempt`);
  }
  const attempt = current.attempts + 1;
  if (isSuccess(outcome.statusCode)) return { state: 'succeeded', attempt, delayS: null };
  const inRound = attempt - current.attemptsAtReplay;
  const delay = inRound >= MAX_ATTEMPTS ? undefined : retryDelaySeconds(inRound, outcome.retryAfterS, random);
  return delay === undefined
    ? { state: 'dead', attempt, delayS: null }
    : { state: 'retrying', attempt, delayS: delay };
}
