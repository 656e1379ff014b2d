import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ChaosMesh, startChaosMesh } from './support/chaos-mesh.js';
import { type ChaosTarget, startChaosTarget } from './support/chaos-target.js';
import { type ExtraService, startExtraService } from './support/extra-service.js';
import { recordResult } from './support/results.js';
import { deliveryLatencies, percentile, sendBurst } from './support/traffic.js';

// Issue 14: clock skew on the backend and on egress (clock-skew.chaos.ts covers the ingester). An extra
// process of the service joins the running mesh with its JavaScript clock moved (support/extra-service.ts):
// ±2 min is inside the ±300 s HMAC window and must work; 10 min must be refused with the reason logged and
// nothing stored (backend) or delivered by it (egress). Before the SVID backdate went from 60 s to 300 s, a
// backend 2 min behind refused every SVID issued in the last minute (svid_not_yet_valid).
const EVENTS = 40;
const MIN = 60_000;

let cm: ChaosMesh;
let target: ChaosTarget;
const extras: ExtraService[] = [];
const extra = async (...a: Parameters<typeof startExtraService>) => {
  const s = await startExtraService(...a);
  extras.push(s);
  return s;
};
const lines = (file: string, needle: string) =>
  readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.includes(needle)).length;
const sourcePath = () => `/v1/webhooks/${cm.ingestUrl.split('/v1/webhooks/')[1]}`;

beforeAll(async () => {
  target = await startChaosTarget();
  cm = await startChaosMesh({ dbPrefix: 'zm_chaos_skew_peers' });
  target.setSecret((await cm.addEndpoint(target.url)).signingSecret);
}, 180_000);
afterAll(async () => {
  for (const s of extras) await s.stop();
  const code = await cm?.stop();
  await target?.close();
  expect(code).toBe(0);
}, 120_000);

describe('clock skew on the backend', () => {
  it.each([2 * MIN, -2 * MIN, 10 * MIN])(
    'backend %i ms off',
    async (skew) => {
      const backend = await extra(cm, { service: 'backend', label: `skew${skew}`, skewMs: skew });
      // A plain ingester whose only backend is the skewed one.
      const ingester = await extra(cm, {
        service: 'ingester',
        label: `to-backend-skew${skew}`,
        env: { ZENMESH_BACKEND_ADDR: backend.grpc as string },
      });
      const keys = Array.from({ length: EVENTS }, (_, i) => `backend-skew${skew}-${i}`);
      const within = Math.abs(skew) < 5 * MIN;
      const stats = await sendBurst({
        url: `${ingester.http}${sourcePath()}`,
        secret: cm.sourceSecret,
        keys,
        concurrency: 4,
        ...(within ? {} : { maxAttempts: 3 }),
      });
      const missing = within ? await target.waitAll([...stats.accepted.keys()], 120_000) : 0;
      if (!within) await new Promise((r) => setTimeout(r, 3000));
      const stale = lines(backend.log, 'stale_timestamp');
      const refusedByIngester = lines(ingester.log, 'backend_unauthenticated');
      const notYetValid = lines(backend.log, 'svid_not_yet_valid');
      recordResult({
        scenario: `clock skew: a backend ${Math.abs(skew) / MIN} min ${skew > 0 ? 'ahead' : 'behind'}`,
        load: `${EVENTS} events, 4 in flight, through an extra ingester whose only backend is the skewed one`,
        fault: `an extra backend whose clock is ${skew / 1000} s off${within ? '' : ' (outside the ±300 s window)'}`,
        sent: EVENTS,
        accepted: stats.accepted.size,
        delivered: target.delivered(keys),
        lost: missing,
        duplicated: target.duplicates(keys),
        p99Ms: percentile(deliveryLatencies(stats.accepted, target.arrivals), 99),
        recoveryMs: null,
        notes: within
          ? `${stats.retryable} answers 503/429 on the way, refused ${JSON.stringify(Object.fromEntries(stats.refused))}; backend logged svid_not_yet_valid ${notYetValid} times`
          : `every request refused: ${stats.retryable} answers 503 (${stats.retryAfter} with Retry-After), other ${JSON.stringify(Object.fromEntries(stats.refused))}; backend logged stale_timestamp ${stale} times, the ingester backend_unauthenticated ${refusedByIngester} times; nothing stored or delivered`,
      });
      if (within) {
        expect(stats.accepted.size).toBe(EVENTS);
        expect(missing).toBe(0);
        expect(notYetValid).toBe(0);
      } else {
        expect(stats.accepted.size).toBe(0);
        expect(stats.refused.size).toBe(0);
        expect(stats.retryAfter).toBe(stats.retryable);
        expect(stale).toBeGreaterThan(0);
        expect(refusedByIngester).toBeGreaterThan(0);
        expect(target.delivered(keys)).toBe(0);
      }
      await ingester.stop();
      await backend.stop();
    },
    300_000,
  );
});

describe('clock skew on egress', () => {
  it.each([2 * MIN, -2 * MIN, 10 * MIN])(
    'egress %i ms off',
    async (skew) => {
      const egress = await extra(cm, {
        service: 'egress',
        label: `skew${skew}`,
        skewMs: skew,
        logLevel: 'debug',
      });
      // The mesh's own egress is frozen for the burst so that the skewed one is the only one leasing.
      const own = cm.pid('egress');
      process.kill(own, 'SIGSTOP');
      const keys = Array.from({ length: EVENTS }, (_, i) => `egress-skew${skew}-${i}`);
      const within = Math.abs(skew) < 5 * MIN;
      let stats: Awaited<ReturnType<typeof sendBurst>>;
      let bySkewed = 0;
      let missingWhileAlone = 0;
      try {
        stats = await sendBurst({ url: cm.ingestUrl, secret: cm.sourceSecret, keys, concurrency: 4 });
        missingWhileAlone = await target.waitAll([...stats.accepted.keys()], within ? 120_000 : 15_000);
        bySkewed = target.delivered(keys);
      } finally {
        await egress.stop();
        process.kill(own, 'SIGCONT');
      }
      // Whatever the skewed egress did not deliver, the mesh's own egress must (leases expire, nothing is lost).
      const missing = await target.waitAll([...stats.accepted.keys()], 120_000);
      const delivered = lines(egress.log, '"msg":"delivered"');
      const stale = lines(join(cm.mesh.home, 'logs', 'backend.log'), 'stale_timestamp');
      const leaseFailed = lines(egress.log, 'LeaseDeliveries failed');
      recordResult({
        scenario: `clock skew: egress ${Math.abs(skew) / MIN} min ${skew > 0 ? 'ahead' : 'behind'}`,
        load: `${EVENTS} events, 4 in flight, the mesh's own egress SIGSTOPped meanwhile`,
        fault: `an extra egress whose clock is ${skew / 1000} s off${within ? '' : ' (outside the ±300 s window)'}`,
        sent: EVENTS,
        accepted: stats.accepted.size,
        delivered: target.delivered(keys),
        lost: missing,
        duplicated: target.duplicates(keys),
        p99Ms: percentile(deliveryLatencies(stats.accepted, target.arrivals), 99),
        recoveryMs: null,
        notes: within
          ? `the skewed egress delivered ${bySkewed} of ${EVENTS} alone (${delivered} 'delivered' log lines), each verified by standardwebhooks`
          : `the skewed egress delivered ${bySkewed} (${missingWhileAlone} waiting): its LeaseDeliveries refused (logged ${leaseFailed} times), backend logged stale_timestamp ${stale} times in all; the mesh's own egress delivered them once resumed`,
      });
      expect(stats.accepted.size).toBe(EVENTS);
      expect(missing).toBe(0);
      if (within) expect(bySkewed).toBe(EVENTS);
      else {
        expect(bySkewed).toBe(0);
        expect(leaseFailed).toBeGreaterThan(0);
      }
    },
    300_000,
  );
});
