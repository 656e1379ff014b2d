import { describe, expect, it } from 'vitest';
import { JITTER, MAX_ATTEMPTS, RETRY_DELAYS_S, retryDelaySeconds } from './backoff.js';

describe('retry schedule', () => {
  it('spans about three days over 15 attempts, capped at 12 h between attempts', () => {
    const total = RETRY_DELAYS_S.reduce((a, b) => a + b, 0);
    expect(MAX_ATTEMPTS).toBe(15);
    expect(total).toBe(272_555);
    expect(total / 86_400).toBeGreaterThan(2.9);
    expect(total / 86_400).toBeLessThan(3.5);
    expect(Math.max(...RETRY_DELAYS_S)).toBe(43_200);
  });

  it('keeps every jittered delay within ±20 % of its base', () => {
    RETRY_DELAYS_S.forEach((base, i) => {
      expect(retryDelaySeconds(i + 1, 0, () => 0)).toBeCloseTo(base * (1 - JITTER), 6);
      expect(retryDelaySeconds(i + 1, 0, () => 0.999_999)).toBeCloseTo(base * (1 + JITTER), 1);
      expect(retryDelaySeconds(i + 1, 0, () => 0.5)).toBeCloseTo(base, 6);
    });
  });

  it('returns undefined after the last attempt', () => {
    expect(retryDelaySeconds(MAX_ATTEMPTS - 1, 0, () => 0.5)).toBe(43_200);
    expect(retryDelaySeconds(MAX_ATTEMPTS)).toBeUndefined();
  });

  it('lets Retry-After postpone but never hasten a retry, within [1 s, 24 h]', () => {
    expect(retryDelaySeconds(1, 3600, () => 0.5)).toBe(3600);
    expect(retryDelaySeconds(1, 1, () => 0.5)).toBe(5);
    expect(retryDelaySeconds(9, 60, () => 0.5)).toBe(28_800);
    expect(retryDelaySeconds(1, 10_000_000, () => 0.5)).toBe(86_400);
  });

  it('refuses a non-positive attempt number', () => {
    expect(() => retryDelaySeconds(0)).toThrow(TypeError);
  });
});
