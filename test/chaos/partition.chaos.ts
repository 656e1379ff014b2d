import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ChaosMesh, startChaosMesh } from './support/chaos-mesh.js';
import { type ChaosTarget, startChaosTarget } from './support/chaos-target.js';
import { type ExtraService, startExtraService } from './support/extra-service.js';
import { recordResult } from './support/results.js';
import { startTcpProxy, type TcpProxy } from './support/tcp-proxy.js';
import { deliveryLatencies, percentile, seeded, sendBurst } from './support/traffic.js';

// Issue 14: a partition between the ingester and the backend. An extra ingester joins the running mesh (its
// own join token and SVID) with its backend address pointed at a loopback TCP proxy this test controls; the
// proxy first forwards, then drops every connection and black-holes new ones (the TLS handshake never
// completes: a route gone, not a refusing host), then heals. Promise: 503 + Retry-After while partitioned,
// nothing accepted is lost, and the ingester resumes by itself. Then the same with the port refusing.
const SEED = 0x14_0a27;
const EVENTS = 240;

let cm: ChaosMesh;
let target: ChaosTarget;
let proxy: TcpProxy;
let ingester: ExtraService;

beforeAll(async () => {
  target = await startChaosTarget();
  cm = await startChaosMesh({ dbPrefix: 'zm_chaos_partition' });
  target.setSecret((await cm.addEndpoint(target.url)).signingSecret);
  proxy = await startTcpProxy(cm.mesh.endpoints.grpc.backend as string);
  ingester = await startExtraService(cm, {
    service: 'ingester',
    label: 'partitioned',
    env: { ZENMESH_BACKEND_ADDR: proxy.address },
  });
}, 240_000);
afterAll(async () => {
  await ingester?.stop();
  await proxy?.close();
  const code = await cm?.stop();
  await target?.close();
  expect(code).toBe(0);
}, 90_000);

describe('partition between ingester and backend', () => {
  it.each([
    ['blackhole', 'connections dropped and new ones black-holed'],
    ['refuse', 'connections dropped and new ones reset at once'],
  ] as const)(
    '%s: 503 with Retry-After, nothing accepted lost, resumes by itself',
    async (mode, what) => {
      const random = seeded(SEED + mode.length);
      // The fault starts after a seeded number of accepts and lasts a seeded 8-12 s.
      const faultAfter = 40 + Math.floor(random() * 40);
      const holdMs = 8_000 + Math.floor(random() * 4_000);
      const droppedBefore = proxy.stats().dropped;
      let healedAt = 0;
      let partitionedAt = 0;
      const keys = Array.from({ length: EVENTS }, (_, i) => `partition-${mode}-${i}`);
      const stats = await sendBurst({
        url: `${ingester.http}/v1/webhooks/${cm.ingestUrl.split('/v1/webhooks/')[1]}`,
        secret: cm.sourceSecret,
        keys,
        concurrency: 8,
        onAccepted: (n) => {
          if (n !== faultAfter) return;
          partitionedAt = performance.now();
          proxy.set(mode);
          setTimeout(() => {
            healedAt = performance.now();
            proxy.set('open');
          }, holdMs).unref();
        },
      });
      const missing = await target.waitAll([...stats.accepted.keys()], 180_000);
      const during = stats.acceptTimes.filter((t) => t > partitionedAt + 6_000 && t < healedAt).length;
      const firstAfter = stats.acceptTimes.find((t) => t >= healedAt);
      const log = readFileSync(ingester.log, 'utf8');
      const refusedLines = log.split('\n').filter((l) => l.includes('"reason":"backend_unavailable"')).length;
      recordResult({
        scenario: `partition ingester ↔ backend (${mode})`,
        load: `${EVENTS} events, 8 in flight, one extra ingester behind a TCP proxy`,
        fault: `after ${faultAfter} accepted: ${what} for ${holdMs} ms, then healed`,
        sent: EVENTS,
        accepted: stats.accepted.size,
        delivered: target.delivered(keys),
        lost: missing,
        duplicated: target.duplicates(keys),
        p99Ms: percentile(deliveryLatencies(stats.accepted, target.arrivals), 99),
        recoveryMs: firstAfter === undefined ? null : firstAfter - healedAt,
        notes: `${stats.retryable} answers 503/429 (${stats.retryAfter} with Retry-After), ${stats.connectionErrors} connection errors, refused ${JSON.stringify(Object.fromEntries(stats.refused))}; ingester logged backend_unavailable ${refusedLines} times; ${during} accepted while partitioned (after the first 6 s); proxy dropped ${proxy.stats().dropped - droppedBefore} connections`,
      });
      expect(stats.refused.size).toBe(0);
      expect(stats.accepted.size).toBe(EVENTS);
      expect(missing).toBe(0);
      expect(stats.retryable).toBeGreaterThan(0);
      expect(stats.retryAfter).toBe(stats.retryable);
      expect(during).toBe(0);
      expect(firstAfter).toBeDefined();
      expect(refusedLines).toBeGreaterThan(0);
    },
    300_000,
  );
});
