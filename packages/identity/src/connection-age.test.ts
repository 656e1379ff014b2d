import { describe, expect, it } from 'vitest';
import { connectionAgeFor } from './service-identity.js';

// A workload renews at half its SVID's lifetime; a connection opened just before that, with the old
// certificate, must be closed (even with grpc-js's +10% jitter on the age) before that certificate expires,
// because the per-call peer guard refuses an expired certificate on an open connection.
describe('connectionAgeFor', () => {
  it.each([
    [6_000, 2_400],
    [12_000, 4_800],
    [3_600_000, 1_440_000],
    [86_400_000, 1_800_000],
    [500, 1_000],
  ])('a lifetime of %d ms keeps connections %d ms', (lifetime, age) => {
    expect(connectionAgeFor(lifetime)).toBe(age);
  });

  it('closes a connection opened at the renewal before the old certificate expires, jitter included', () => {
    for (const lifetime of [10_000, 60_000, 3_600_000, 4 * 3_600_000]) {
      const age = connectionAgeFor(lifetime);
      if (age < 1_800_000) expect(lifetime / 2 + age * 1.1).toBeLessThan(lifetime);
    }
  });
});
