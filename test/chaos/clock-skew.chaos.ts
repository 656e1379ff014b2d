import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ChaosMesh, startChaosMesh } from './support/chaos-mesh.js';
import { type ChaosTarget, startChaosTarget } from './support/chaos-target.js';
import { type ExtraService, startExtraService } from './support/extra-service.js';
import { recordResult } from './support/results.js';
import { deliveryLatencies, percentile, sendBurst } from './support/traffic.js';

// Issue 14: clock skew on one service. An extra ingester joins the running mesh (its own join token and
// SVID) with its JavaScript clock moved by a preload (support/extra-service.ts): Date and Date.now are
// shifted, while TLS certificate checks (OpenSSL, the system clock) are not, so what is exercised is the HMAC
// timestamp window (±300 s) and the per-call peer guard. ±2 min must be accepted; 10 min must be refused by
// the backend with its reason logged, answered 503 + Retry-After (the ingester's own clock is at fault, not the
// sender's request), and store nothing. clock-skew-peers.chaos.ts skews the backend and egress.
const EVENTS = 60;
let cm: ChaosMesh;
let target: ChaosTarget;
const children: ExtraService[] = [];

/** Starts one more ingester with its clock `skewMs` off; resolves with its base URL and log file. */
async function skewedIngester(skewMs: number): Promise<{ url: string; log: string }> {
  const s = await startExtraService(cm, { service: 'ingester', label: `skew${skewMs}`, skewMs });
  children.push(s);
  return { url: s.http as string, log: s.log };
}

beforeAll(async () => {
  target = await startChaosTarget();
  cm = await startChaosMesh({ dbPrefix: 'zm_chaos_skew' });
  target.setSecret((await cm.addEndpoint(target.url)).signingSecret);
}, 180_000);
afterAll(async () => {
  for (const c of children) await c.stop();
  const code = await cm?.stop();
  await target?.close();
  expect(code).toBe(0);
}, 90_000);

describe('clock skew on one service', () => {
  it.each([120_000, -120_000])(
    'skew %i ms (within the ±300 s window): accepted and delivered',
    async (skew) => {
      const { url } = await skewedIngester(skew);
      const keys = Array.from({ length: EVENTS }, (_, i) => `skew${skew}-${i}`);
      const stats = await sendBurst({
        url: cm.ingestUrl.replace(cm.mesh.endpoints.ingester, url),
        secret: cm.sourceSecret,
        keys,
        concurrency: 4,
      });
      const missing = await target.waitAll([...stats.accepted.keys()], 120_000);
      recordResult({
        scenario: `clock skew: one ingester 2 min ${skew > 0 ? 'ahead' : 'behind'}`,
        load: `${EVENTS} events, 4 in flight`,
        fault: `an extra ingester whose clock is ${skew / 1000} s off`,
        sent: EVENTS,
        accepted: stats.accepted.size,
        delivered: target.delivered(keys),
        lost: missing,
        duplicated: target.duplicates(keys),
        p99Ms: percentile(deliveryLatencies(stats.accepted, target.arrivals), 99),
        recoveryMs: null,
        notes: `${stats.retryable} answers 503/429 on the way (${stats.retryAfter} with Retry-After), refused ${JSON.stringify(Object.fromEntries(stats.refused))}`,
      });
      expect(stats.accepted.size).toBe(EVENTS);
      expect(missing).toBe(0);
    },
    240_000,
  );

  it('skew +10 min: refused by the backend with stale_timestamp logged, nothing stored', async () => {
    const { url } = await skewedIngester(600_000);
    const keys = Array.from({ length: 20 }, (_, i) => `skew600-${i}`);
    const stats = await sendBurst({
      url: cm.ingestUrl.replace(cm.mesh.endpoints.ingester, url),
      secret: cm.sourceSecret,
      keys,
      concurrency: 2,
      maxAttempts: 2,
    });
    await new Promise((r) => setTimeout(r, 5000));
    const backendLog = readFileSync(join(cm.mesh.home, 'logs', 'backend.log'), 'utf8');
    const refusals = backendLog.split('\n').filter((l) => l.includes('stale_timestamp')).length;
    recordResult({
      scenario: 'clock skew: one ingester 10 min ahead',
      load: '20 events, 2 in flight',
      fault: 'an extra ingester whose clock is 600 s ahead (outside the ±300 s window)',
      sent: keys.length,
      accepted: stats.accepted.size,
      delivered: target.delivered(keys),
      lost: 0,
      duplicated: 0,
      p99Ms: 0,
      recoveryMs: null,
      notes: `every request refused: ${stats.retryable} answers 503 (${stats.retryAfter} with Retry-After), other ${JSON.stringify(Object.fromEntries(stats.refused))}; backend logged stale_timestamp ${refusals} times; nothing stored or delivered`,
    });
    expect(stats.accepted.size).toBe(0);
    expect(stats.refused.size).toBe(0);
    expect(stats.retryAfter).toBe(stats.retryable);
    expect(target.delivered(keys)).toBe(0);
    expect(refusals).toBeGreaterThan(0);
  }, 240_000);
});
