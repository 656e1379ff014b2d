import { describe, expect, it } from 'vitest';
import { parseRetryAfter } from './retry-after.js';

const now = new Date('2026-01-01T00:00:00Z');

describe('parseRetryAfter (RFC 9110 §10.2.3)', () => {
  it('reads delay-seconds', () => {
    expect(parseRetryAfter('120', now)).toBe(120);
    expect(parseRetryAfter(' 0 ', now)).toBe(0);
  });

  it('reads an HTTP-date relative to now, a past date meaning now', () => {
    expect(parseRetryAfter('Thu, 01 Jan 2026 00:01:30 GMT', now)).toBe(90);
    expect(parseRetryAfter('Wed, 31 Dec 2025 23:00:00 GMT', now)).toBe(0);
  });

  it('caps hostile values and ignores garbage', () => {
    expect(parseRetryAfter('99999999999', now)).toBe(7 * 24 * 3600);
    for (const bad of [undefined, '', '-5', '1.5', 'soon', '2026-01-01T00:01:00Z']) {
      expect(parseRetryAfter(bad, now)).toBe(0);
    }
  });
});
