import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ChaosMesh, startChaosMesh } from './support/chaos-mesh.js';
import { type ChaosTarget, startChaosTarget } from './support/chaos-target.js';
import { killMidBurst } from './support/kill-scenario.js';
import { recordResult } from './support/results.js';

// Issue 14: kill -9 each service in turn mid-burst, replicas on and off. The sender retries as a provider
// does (503 / refused connection), so every event is eventually accepted; every accepted event must then be
// delivered at least once (duplicates counted: at-least-once). Fixed seeds; loopback only.
const EVENTS = Number(process.env.ZENMESH_CHAOS_EVENTS ?? 200);
const CONCURRENCY = 8;

const modes = [
  {
    name: 'replicas on',
    replicas: 'ingester=2,backend=2,egress=2',
    victims: ['ca', 'token', 'backend-1', 'ingester-2', 'egress-1', 'bff'],
  },
  { name: 'replicas off', victims: ['ca', 'token', 'backend', 'ingester', 'egress', 'bff'] },
] as const;

for (const mode of modes) {
  describe(`kill -9 each service mid-burst, ${mode.name}`, () => {
    let cm: ChaosMesh;
    let target: ChaosTarget;
    beforeAll(async () => {
      target = await startChaosTarget();
      cm = await startChaosMesh({
        dbPrefix: `zm_chaos_kill_${mode.name.replace(' ', '_')}`,
        ...('replicas' in mode ? { replicas: mode.replicas } : {}),
      });
      target.setSecret((await cm.addEndpoint(target.url)).signingSecret);
    }, 180_000);
    afterAll(async () => {
      const code = await cm?.stop();
      await target?.close();
      expect(code).toBe(0);
    }, 90_000);

    mode.victims.forEach((victim, i) => {
      it(`kill -9 ${victim}: nothing accepted is lost`, async () => {
        const r = await killMidBurst(cm, target, {
          scenario: `kill -9 ${victim} (${mode.name})`,
          load: `${EVENTS} events, ${CONCURRENCY} in flight${'replicas' in mode ? `, ${mode.replicas}` : ''}`,
          victim,
          events: EVENTS,
          concurrency: CONCURRENCY,
          seed: 1400 + i,
        });
        recordResult(r);
        expect(r.accepted).toBe(EVENTS);
        expect(r.lost).toBe(0);
        expect(target.unverified()).toBe(0);
      }, 300_000);
    });
  });
}
