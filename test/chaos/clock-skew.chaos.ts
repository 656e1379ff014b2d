import { type ChildProcess, fork } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadMasterKey } from '@zenmesh/crypto';
import { mintJoinToken } from '@zenmesh/identity';
import { spiffeIdFor } from '@zenmesh/pki';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO } from '../support/mesh.js';
import { type ChaosMesh, startChaosMesh } from './support/chaos-mesh.js';
import { type ChaosTarget, startChaosTarget } from './support/chaos-target.js';
import { recordResult } from './support/results.js';
import { deliveryLatencies, percentile, sendBurst } from './support/traffic.js';

// Issue 14: clock skew on one service. An extra ingester joins the running mesh (its own join token and
// SVID) with its JavaScript clock moved by a preload: Date and Date.now are shifted, while TLS certificate
// checks (OpenSSL, the system clock) are not, so what is exercised is the HMAC timestamp window (±300 s).
// ±2 min must be accepted; 10 min must be refused by the backend with its reason logged, and store nothing.
const EVENTS = 60;
const SKEW_PRELOAD = `data:text/javascript,${encodeURIComponent(`
const skew = Number(process.env.ZM_TEST_CLOCK_SKEW_MS);
const RealDate = Date;
const realNow = RealDate.now.bind(RealDate);
globalThis.Date = class extends RealDate {
  constructor(...a) { if (a.length === 0) super(realNow() + skew); else super(...a); }
  static now() { return realNow() + skew; }
};
`)}`;

let cm: ChaosMesh;
let target: ChaosTarget;
const children: ChildProcess[] = [];

/** Starts one more ingester with its clock `skewMs` off; resolves with its base URL and log file. */
async function skewedIngester(skewMs: number): Promise<{ url: string; log: string }> {
  const home = cm.mesh.home;
  const e = JSON.parse(readFileSync(join(home, 'endpoints.json'), 'utf8')) as {
    caJoin: string;
    grpc: Record<string, string>;
  };
  const id = { trustDomain: 'zenmesh.local', namespace: 'zenmesh' };
  const log = join(home, 'logs', `ingester-skew${skewMs}.log`);
  const fd = openSync(log, 'a');
  const child = fork(join(REPO, 'services/ingester/dist/main.js'), [], {
    env: {
      PATH: process.env.PATH,
      LOG_LEVEL: 'info',
      NODE_OPTIONS: `--import=${SKEW_PRELOAD}`,
      ZM_TEST_CLOCK_SKEW_MS: String(skewMs),
      ZENMESH_TRUST_DOMAIN: id.trustDomain,
      ZENMESH_NAMESPACE: id.namespace,
      ZENMESH_SECRETS_DIR: join(home, 'secrets'),
      ZENMESH_TLS_CA: join(home, 'ca/bundle.pem'),
      ZENMESH_JOIN_TOKEN: mintJoinToken(loadMasterKey(join(home, 'secrets')), {
        spiffeId: spiffeIdFor('ingester', id),
      }).token,
      ZENMESH_CA_ADDR: e.grpc.ca,
      ZENMESH_CA_JOIN_ADDR: e.caJoin,
      ZENMESH_HTTP_LISTEN: '127.0.0.1:0',
      ZENMESH_BACKEND_ADDR: e.grpc.backend,
      ZENMESH_EGRESS_ADDR: e.grpc.egress,
      REDIS_URL: process.env.REDIS_URL,
      ZENMESH_REDIS_PREFIX: cm.redisPrefix,
    },
    stdio: ['ignore', fd, fd, 'ipc'],
  });
  closeSync(fd);
  children.push(child);
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`skewed ingester not ready; see ${log}`)), 60_000);
    child.once('exit', (code) =>
      reject(new Error(`skewed ingester exited ${code}: ${readFileSync(log, 'utf8')}`)),
    );
    child.on('message', (m: { type?: string; http?: string }) => {
      if (m.type === 'zenmesh:ready' && m.http) {
        clearTimeout(timer);
        resolve(m.http);
      }
    });
  });
  return { url, log };
}

beforeAll(async () => {
  target = await startChaosTarget();
  cm = await startChaosMesh({ dbPrefix: 'zm_chaos_skew' });
  target.setSecret((await cm.addEndpoint(target.url)).signingSecret);
}, 180_000);
afterAll(async () => {
  for (const c of children) c.kill('SIGTERM');
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
      notes: `every request refused (answers ${JSON.stringify(Object.fromEntries(stats.refused))}, ${stats.retryable} 503/429); backend logged stale_timestamp ${refusals} times; nothing stored or delivered`,
    });
    expect(stats.accepted.size).toBe(0);
    expect(target.delivered(keys)).toBe(0);
    expect(refusals).toBeGreaterThan(0);
  }, 240_000);
});
