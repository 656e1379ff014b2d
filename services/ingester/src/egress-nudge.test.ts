import { createLogger } from '@zenmesh/telemetry';
import { describe, expect, it } from 'vitest';
import { createEgressNudge } from './egress-nudge.js';

const logger = createLogger('ingester', { level: 'silent' });

/** An egress whose Dispatch calls stay open until released. */
function fakeEgress(fail = false) {
  const calls: string[] = [];
  const open: Array<() => void> = [];
  return {
    calls,
    open,
    egress: {
      dispatch({ eventId }: { eventId: string }) {
        calls.push(eventId);
        return new Promise<unknown>((resolve, reject) =>
          open.push(() => (fail ? reject(new Error('egress down')) : resolve({ accepted: true }))),
        );
      },
    },
  };
}

describe('egress nudge', () => {
  it('nudges the first event at once and folds the ones behind it into one trailing nudge', async () => {
    const fake = fakeEgress();
    const nudge = createEgressNudge({ egress: fake.egress, logger, minIntervalMs: 5 });
    nudge('evt_1');
    expect(fake.calls).toEqual(['evt_1']);
    for (let i = 2; i <= 10; i++) nudge(`evt_${i}`);
    // Still one call: the first is in flight.
    expect(fake.calls).toEqual(['evt_1']);
    fake.open.shift()?.();
    await expect.poll(() => fake.calls).toEqual(['evt_1', 'evt_10']);
    fake.open.shift()?.();
    await new Promise((r) => setTimeout(r, 20));
    // Nothing more was asked for: no further call.
    expect(fake.calls).toEqual(['evt_1', 'evt_10']);
  });

  it('keeps the interval between two calls even when the first answered at once', async () => {
    let clock = 1000;
    const fake = fakeEgress();
    const nudge = createEgressNudge({ egress: fake.egress, logger, minIntervalMs: 40, now: () => clock });
    nudge('evt_a');
    fake.open.shift()?.();
    await new Promise((r) => setImmediate(r));
    nudge('evt_b');
    // 0 ms after the first: waits for its timer.
    expect(fake.calls).toEqual(['evt_a']);
    clock += 40;
    await expect.poll(() => fake.calls, { timeout: 2000 }).toEqual(['evt_a', 'evt_b']);
  });

  it('carries on after a failed Dispatch: the next nudge is sent', async () => {
    const fake = fakeEgress(true);
    const nudge = createEgressNudge({ egress: fake.egress, logger, minIntervalMs: 1 });
    nudge('evt_x');
    nudge('evt_y');
    fake.open.shift()?.();
    await expect.poll(() => fake.calls).toEqual(['evt_x', 'evt_y']);
    fake.open.shift()?.();
  });
});
