import { randomBytes } from 'node:crypto';
import { EgressService } from '@zenmesh/proto';
import { Code, isRpcError, type MessageIntegrity } from '@zenmesh/rpc';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createPki,
  egressChannel,
  integrityFor,
  redisNonces,
  startEgress,
  startPrivateRedis,
} from './support/security-kit.js';

// Fail closed: with its replay store gone, a server refuses signed calls (UNAVAILABLE replay_store_unavailable)
// instead of waving them through, and serves again by itself once the store is back. A private redis-server
// is killed and restarted; the shared Redis is never touched.
let redis: Awaited<ReturnType<typeof startPrivateRedis>>;
let server: Awaited<ReturnType<typeof startEgress>>;
let serverIntegrity: MessageIntegrity;
let clientIntegrity: MessageIntegrity;
let channel: ReturnType<typeof egressChannel>;

beforeAll(async () => {
  redis = await startPrivateRedis();
  const masterKey = randomBytes(32);
  const pki = await createPki();
  serverIntegrity = integrityFor({ masterKey, nonces: redisNonces(redis.url, 'zmtest:outage:') });
  expect(await serverIntegrity.nonces.waitUntilReady(5000)).toBe(true);
  // The client needs no store; an in-process one keeps it independent of the Redis under test.
  clientIntegrity = integrityFor({ masterKey, nonces: redisNonces(redis.url, 'zmtest:outage-client:') });
  server = await startEgress({ identity: await pki.identity('egress'), integrity: serverIntegrity });
  channel = egressChannel(server.address, await pki.identity('ingester'), clientIntegrity);
});

afterAll(async () => {
  channel?.close();
  await server?.server.shutdown({ graceMs: 1000 });
  await serverIntegrity?.nonces.close();
  await clientIntegrity?.nonces.close();
  await redis?.kill();
});

type Outcome = 'ok' | 'replay_store_unavailable' | string;

const call = async (): Promise<Outcome> => {
  try {
    const r = await channel.client(EgressService).dispatch({ eventId: `evt_${'d'.repeat(26)}` });
    return r.accepted ? 'ok' : 'not-accepted';
  } catch (err) {
    if (isRpcError(err) && err.code === Code.UNAVAILABLE && err.reason === 'replay_store_unavailable') {
      return 'replay_store_unavailable';
    }
    return `unexpected: ${String(err)}`;
  }
};

describe('Redis stopped mid-traffic', () => {
  it(
    'refuses while it is down, accepts nothing unverified, and recovers by itself',
    { timeout: 120_000 },
    async () => {
      // Continuous traffic from before the outage to after it.
      const outcomes: Outcome[] = [];
      let running = true;
      // Bounded: the loop ends with the test, whatever happens, and never spins without yielding.
      const trafficDeadline = Date.now() + 80_000;
      const traffic = (async () => {
        while (running && Date.now() < trafficDeadline) {
          outcomes.push(await call());
          await new Promise((r) => setImmediate(r));
        }
      })();
      const waitFor = async (pred: () => boolean, what: string) => {
        const deadline = Date.now() + 30_000;
        while (!pred()) {
          if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
          await new Promise((r) => setTimeout(r, 20));
        }
      };

      let okAtKill = 0;
      try {
        await waitFor(() => outcomes.filter((o) => o === 'ok').length >= 20, 'traffic before the outage');
        await redis.kill();
        // From here on the store is gone: whatever the server does, its handler must not run.
        const handledAtKill = server.handled();
        okAtKill = outcomes.filter((o) => o === 'ok').length;
        const startOfOutage = outcomes.length;
        await waitFor(
          () => outcomes.slice(startOfOutage).filter((o) => o === 'replay_store_unavailable').length >= 20,
          'refusals during the outage',
        );
        const outage = outcomes.slice(startOfOutage);
        // A call already past the nonce check when the process died may finish; none may start after.
        expect(outage.filter((o) => o === 'ok').length).toBeLessThanOrEqual(1);
        const handledDuringOutage = server.handled() - handledAtKill;
        expect(handledDuringOutage).toBeLessThanOrEqual(1);
        const endOfOutage = outcomes.length;
        const handledBeforeRestart = server.handled();
        // The traffic loop is sequential, so at most one call straddles the kill: its handler may have run
        // just before the snapshot while its answer lands just after. Beyond that one, no call was served
        // during the outage without its handler run being counted, and vice versa. (The strict equality of
        // handler runs and served calls over the whole run is asserted below.)
        const servedDuringOutage = outcomes
          .slice(startOfOutage, endOfOutage)
          .filter((o) => o === 'ok').length;
        expect(Math.abs(servedDuringOutage - (handledBeforeRestart - handledAtKill))).toBeLessThanOrEqual(1);

        await redis.start();
        await waitFor(() => outcomes.slice(endOfOutage).filter((o) => o === 'ok').length >= 20, 'recovery');
      } finally {
        running = false;
        await traffic;
      }

      // Every call was either served (verified, nonce claimed) or refused as unavailable; nothing else.
      expect(outcomes.filter((o) => o !== 'ok' && o !== 'replay_store_unavailable')).toEqual([]);
      // Every served call ran the handler exactly once, and every handler run was a served call.
      expect(server.handled()).toBe(outcomes.filter((o) => o === 'ok').length);
      expect(server.server.refusals.get('replay_store_unavailable')).toBe(
        outcomes.filter((o) => o === 'replay_store_unavailable').length,
      );
      expect(okAtKill).toBeGreaterThanOrEqual(20);
    },
  );
});
