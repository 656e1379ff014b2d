import { describe, expect, it } from 'vitest';
import { MAX_ATTEMPTS, RETRY_DELAYS_S } from './backoff.js';
import {
  ACTIVE_STATES,
  canTransition,
  DELIVERY_STATES,
  type DeliveryStateName,
  type DeliveryTransition,
  isSuccess,
  nextStateAfterAttempt,
} from './delivery-state.js';

const middle = () => 0.5; // no jitter: the scheduled delay exactly

describe('the transition table, every (cause, from, to)', () => {
  // Written out by hand: the table in delivery-state.ts must say exactly this.
  const allowed = new Set([
    'attempt pending→succeeded',
    'attempt pending→retrying',
    'attempt pending→dead',
    'attempt retrying→succeeded',
    'attempt retrying→retrying',
    'attempt retrying→dead',
    'replay pending→pending',
    'replay retrying→pending',
    'replay succeeded→pending',
    'replay dead→pending',
  ]);
  for (const cause of ['attempt', 'replay'] as DeliveryTransition[]) {
    for (const from of DELIVERY_STATES) {
      for (const to of DELIVERY_STATES) {
        const name = `${cause} ${from}→${to}`;
        it(`${name}: ${allowed.has(name) ? 'allowed' : 'never'}`, () => {
          expect(canTransition(cause, from, to)).toBe(allowed.has(name));
        });
      }
    }
  }

  it('nothing but a replay leaves a final state (succeeded, dead)', () => {
    for (const final of ['succeeded', 'dead'] as DeliveryStateName[]) {
      expect(DELIVERY_STATES.filter((to) => canTransition('attempt', final, to))).toEqual([]);
      expect(DELIVERY_STATES.filter((to) => canTransition('replay', final, to))).toEqual(['pending']);
    }
  });
});

describe('isSuccess', () => {
  it('is 2xx and nothing else', () => {
    for (const code of [200, 201, 204, 299]) expect(isSuccess(code)).toBe(true);
    for (const code of [0, 100, 199, 300, 301, 304, 400, 404, 410, 429, 500, 503, 599]) {
      expect(isSuccess(code)).toBe(false);
    }
  });
});

describe('nextStateAfterAttempt', () => {
  it('refuses to decide for a delivery that takes no attempt (succeeded, dead)', () => {
    for (const state of ['succeeded', 'dead'] as DeliveryStateName[]) {
      expect(() =>
        nextStateAfterAttempt(
          { state, attempts: 3, attemptsAtReplay: 0 },
          { statusCode: 200, retryAfterS: 0 },
        ),
      ).toThrow(TypeError);
    }
  });

  it('exhaustively: every active state × every attempt of a round × success or failure', () => {
    for (const state of ACTIVE_STATES) {
      for (let inRound = 1; inRound <= MAX_ATTEMPTS; inRound++) {
        for (const statusCode of [200, 503, 0]) {
          const current = { state, attempts: inRound - 1, attemptsAtReplay: 0 };
          const next = nextStateAfterAttempt(current, { statusCode, retryAfterS: 0 }, middle);
          expect(canTransition('attempt', state, next.state)).toBe(true);
          expect(next.attempt).toBe(inRound);
          if (statusCode === 200) {
            expect(next).toEqual({ state: 'succeeded', attempt: inRound, delayS: null });
          } else if (inRound === MAX_ATTEMPTS) {
            expect(next).toEqual({ state: 'dead', attempt: inRound, delayS: null });
          } else {
            expect(next).toEqual({
              state: 'retrying',
              attempt: inRound,
              delayS: RETRY_DELAYS_S[inRound - 1],
            });
          }
        }
      }
    }
  });

  it('is dead, not retrying, past the end of the round too (attempts already over the budget)', () => {
    const next = nextStateAfterAttempt(
      { state: 'retrying', attempts: MAX_ATTEMPTS + 4, attemptsAtReplay: 0 },
      { statusCode: 500, retryAfterS: 0 },
    );
    expect(next).toEqual({ state: 'dead', attempt: MAX_ATTEMPTS + 5, delayS: null });
  });

  it('counts only attempts since the last replay: a replayed delivery gets a fresh schedule', () => {
    // 20 attempts in its life, 15 of them before the replay: this is attempt 6 of the new round.
    const next = nextStateAfterAttempt(
      { state: 'pending', attempts: 20, attemptsAtReplay: 15 },
      { statusCode: 500, retryAfterS: 0 },
      middle,
    );
    expect(next).toEqual({ state: 'retrying', attempt: 21, delayS: RETRY_DELAYS_S[5] });
  });

  it('lets Retry-After postpone a retry, never hasten it', () => {
    const first = { state: 'pending' as const, attempts: 0, attemptsAtReplay: 0 };
    expect(nextStateAfterAttempt(first, { statusCode: 429, retryAfterS: 7200 }, middle)).toMatchObject({
      state: 'retrying',
      delayS: 7200,
    });
    expect(nextStateAfterAttempt(first, { statusCode: 429, retryAfterS: 1 }, middle)).toMatchObject({
      state: 'retrying',
      delayS: RETRY_DELAYS_S[0],
    });
    // A success ignores Retry-After; the last failure is dead whatever Retry-After asks.
    expect(nextStateAfterAttempt(first, { statusCode: 200, retryAfterS: 60 })).toMatchObject({
      delayS: null,
    });
    const last = { state: 'retrying' as const, attempts: MAX_ATTEMPTS - 1, attemptsAtReplay: 0 };
    expect(nextStateAfterAttempt(last, { statusCode: 503, retryAfterS: 60 })).toMatchObject({
      state: 'dead',
    });
  });

  it('jitters the delay within ±20 % of the schedule', () => {
    const first = { state: 'pending' as const, attempts: 0, attemptsAtReplay: 0 };
    const low = nextStateAfterAttempt(first, { statusCode: 500, retryAfterS: 0 }, () => 0);
    const high = nextStateAfterAttempt(first, { statusCode: 500, retryAfterS: 0 }, () => 0.999_999);
    expect(low.delayS).toBeCloseTo(4, 6);
    expect(high.delayS).toBeCloseTo(6, 3);
  });
});
