import { execFile } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from 'node:tls';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI, REPO } from '../support/mesh.js';
import { type ChaosMesh, startChaosMesh } from './support/chaos-mesh.js';
import { type ChaosTarget, startChaosTarget } from './support/chaos-target.js';
import { killMidBurst } from './support/kill-scenario.js';
import { recordResult } from './support/results.js';
import { deliveryLatencies, percentile, sendBurst } from './support/traffic.js';

// Issue 14: `zenmesh up --replicas ingester=2,backend=2,egress=2` — each replica its own process and SVID,
// ingesters behind the launcher's loopback balancer, egress replicas sharing the work through the backend's
// leases; and issue 12 defect 11: more than one instance refuses to start without a shared store.
const run = promisify(execFile);
const REPLICAS = 'ingester=2,backend=2,egress=2';
const EVENTS = 150;

const runCli = async (args: string[], env: NodeJS.ProcessEnv) => {
  try {
    const r = await run(process.execPath, [CLI, ...args], { env: { ...process.env, ...env } });
    return { code: 0, ...r };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
};

describe('refusals: more than one instance needs shared stores', () => {
  const home = mkdtempSync(join(tmpdir(), 'zm-replicas-refuse-'));
  afterAll(() => rmSync(home, { recursive: true, force: true }));

  it('zenmesh up --replicas refuses without REDIS_URL, backend replicas without DATABASE_URL, and unknown services', async () => {
    const noRedis = await runCli(['up', '--replicas', 'ingester=2'], { ZENMESH_HOME: home, REDIS_URL: '' });
    expect([noRedis.code, noRedis.stderr.trim()]).toEqual([
      2,
      'zenmesh: --replicas ingester=2: REDIS_URL is unset; replicas must share one nonce, dedup and rate-limit store (set REDIS_URL=redis://…)',
    ]);
    const noDb = await runCli(['up', '--replicas', 'backend=2'], { ZENMESH_HOME: home, DATABASE_URL: '' });
    expect(noDb.code).toBe(2);
    expect(noDb.stderr).toMatch(/backend replicas must share one Postgres/);
    const bff = await runCli(['up', '--replicas', 'bff=2'], { ZENMESH_HOME: home });
    expect(bff.stderr).toMatch(/--replicas: bff cannot run as replicas here/);
    const bad = await runCli(['up', '--replicas', 'egress=two'], { ZENMESH_HOME: home });
    expect(bad.stderr).toMatch(/--replicas: expected service=count, got "egress=two"/);
    const many = await runCli(['up', '--replicas', 'egress=9'], { ZENMESH_HOME: home });
    expect(many.stderr).toMatch(/egress=9: expected 1 to 8/);
    // Nothing was started or written for a refused start.
    expect(() => readFileSync(join(home, 'endpoints.json'))).toThrow();
  });

  it.each([
    ['ingester', { ZENMESH_BACKEND_ADDR: '127.0.0.1:1', ZENMESH_EGRESS_ADDR: '127.0.0.1:1' }],
    ['egress', { ZENMESH_BACKEND_ADDR: '127.0.0.1:1' }],
  ])('a %s told ZENMESH_REPLICAS=2 without REDIS_URL exits 1 with the reason', async (service, extra) => {
    const secrets = mkdtempSync(join(tmpdir(), 'zm-replicas-secrets-'));
    writeFileSync(join(secrets, 'master.key'), `${Buffer.alloc(32, 7).toString('base64')}\n`, {
      mode: 0o600,
    });
    try {
      const env = {
        PATH: process.env.PATH,
        ZENMESH_REPLICAS: '2',
        ZENMESH_SECRETS_DIR: secrets,
        ZENMESH_TLS_CA: join(secrets, 'bundle.pem'),
        ...extra,
      };
      const main = join(REPO, `services/${service}/dist/main.js`);
      const r = await run(process.execPath, [main], { env }).then(
        () => ({ code: 0, stderr: '' }),
        (e: { code: number; stderr: string }) => e,
      );
      expect(r.code).toBe(1);
      expect(r.stderr).toContain(
        `zenmesh-${service}: cannot start: REDIS_URL: unset: ZENMESH_REPLICAS=2 runs more than one ${service}, and replicas must share one nonce and dedup store`,
      );
    } finally {
      rmSync(secrets, { recursive: true, force: true });
    }
  });
});

describe(`zenmesh up --replicas ${REPLICAS}`, () => {
  let cm: ChaosMesh;
  let target: ChaosTarget;

  beforeAll(async () => {
    target = await startChaosTarget();
    // Per-event log lines (accepted, delivered) are at debug: this test reads them to see who did what.
    cm = await startChaosMesh({ dbPrefix: 'zm_replicas', replicas: REPLICAS, env: { LOG_LEVEL: 'debug' } });
    target.setSecret((await cm.addEndpoint(target.url)).signingSecret);
  }, 180_000);

  afterAll(async () => {
    const code = await cm?.stop();
    await target?.close();
    expect(code).toBe(0);
  }, 90_000);

  /** The SVID a replica presents on its own gRPC address, read with the operator's own SVID. */
  const presented = (address: string): Promise<X509Certificate> => {
    const dir = join(cm.mesh.home, 'svids/cli');
    const [host, port] = [address.slice(0, address.lastIndexOf(':')), Number(address.split(':').pop())];
    return new Promise((resolve, reject) => {
      const socket = connect({
        host,
        port,
        cert: readFileSync(join(dir, 'svid.pem')),
        key: readFileSync(join(dir, 'svid-key.pem')),
        ca: readFileSync(join(dir, 'bundle.pem')),
        ALPNProtocols: ['h2'],
        checkServerIdentity: () => undefined,
      });
      socket.once('secureConnect', () => {
        resolve(new X509Certificate(socket.getPeerCertificate(false).raw));
        socket.destroy();
      });
      socket.once('error', reject);
    });
  };

  it('runs each replica as its own process with its own SVID under the service SPIFFE ID', async () => {
    const e = cm.mesh.readEndpoints();
    const names = ['ingester-1', 'ingester-2', 'backend-1', 'backend-2', 'egress-1', 'egress-2'];
    const pids = names.map((n) => e.pids[n] ?? 0);
    expect(pids.every((p) => p > 0)).toBe(true);
    expect(new Set(pids).size).toBe(names.length);
    for (const service of ['backend', 'egress']) {
      const certs = await Promise.all(
        [1, 2].map((i) => presented(e.replicas?.[`${service}-${i}`]?.grpc ?? '')),
      );
      for (const c of certs)
        expect(c.subjectAltName).toBe(`URI:spiffe://zenmesh.local/ns/zenmesh/sa/${service}`);
      expect(certs[0]?.fingerprint256).not.toBe(certs[1]?.fingerprint256);
      // Not one certificate re-issued: two key pairs.
      expect(certs[0]?.publicKey.export({ format: 'der', type: 'spki' })).not.toEqual(
        certs[1]?.publicKey.export({ format: 'der', type: 'spki' }),
      );
      // The service's address is the balancer, not a replica's.
      expect(e.grpc[service]).not.toBe(e.replicas?.[`${service}-1`]?.grpc);
    }
  });

  it('spreads webhooks over both ingesters and deliveries over both egress replicas, each delivered once', async () => {
    const keys = Array.from({ length: EVENTS }, (_, i) => `normal-${i}`);
    const stats = await sendBurst({ url: cm.ingestUrl, secret: cm.sourceSecret, keys, concurrency: 8 });
    expect(stats.accepted.size).toBe(EVENTS);
    expect(await target.waitAll(keys, 120_000)).toBe(0);
    const log = (name: string, msg: string) =>
      readFileSync(join(cm.mesh.home, 'logs', `${name}.log`), 'utf8')
        .split('\n')
        .filter((l) => l.includes(`"msg":"${msg}"`));
    // Log lines reach the files asynchronously: read until every acceptance and delivery is in (bounded).
    const read = () => ({
      accepted: [log('ingester-1', 'webhook accepted').length, log('ingester-2', 'webhook accepted').length],
      delivered: ['egress-1', 'egress-2'].map((n) =>
        log(n, 'delivered').map((l) => (JSON.parse(l) as { deliveryId: string }).deliveryId),
      ),
    });
    let seen = read();
    const complete = (s: typeof seen) =>
      s.delivered.flat().length >= EVENTS && (s.accepted[0] ?? 0) + (s.accepted[1] ?? 0) >= EVENTS;
    for (let i = 0; i < 60 && !complete(seen); i++) {
      await new Promise((r) => setTimeout(r, 250));
      seen = read();
    }
    const { accepted, delivered } = seen;
    expect(accepted.every((n) => n > 0)).toBe(true);
    expect((accepted[0] ?? 0) + (accepted[1] ?? 0)).toBe(EVENTS);
    expect(delivered.every((d) => d.length > 0)).toBe(true);
    // Shared through the backend's leases: every delivery went out once, from one replica or the other.
    expect(delivered.flat()).toHaveLength(EVENTS);
    expect(new Set(delivered.flat()).size).toBe(EVENTS);
    expect(target.duplicates(keys)).toBe(0);
    expect(target.unverified()).toBe(0);
    recordResult({
      scenario: 'replicas, no fault',
      load: `${EVENTS} events, 8 in flight, ${REPLICAS}`,
      fault: 'none',
      sent: EVENTS,
      accepted: stats.accepted.size,
      delivered: target.delivered(keys),
      lost: EVENTS - target.delivered(keys),
      duplicated: target.duplicates(keys),
      p99Ms: percentile(deliveryLatencies(stats.accepted, target.arrivals), 99),
      recoveryMs: null,
      notes: `ingesters took ${accepted.join('/')}, egress replicas delivered ${delivered.map((d) => d.length).join('/')}`,
    });
  }, 180_000);

  it('kill -9 one ingester replica mid-burst: the other takes the traffic, nothing accepted is lost', async () => {
    const r = await killMidBurst(cm, target, {
      scenario: 'kill -9 ingester-1 (replicas on, short form)',
      load: `${EVENTS} events, 8 in flight, ${REPLICAS}`,
      victim: 'ingester-1',
      events: EVENTS,
      concurrency: 8,
      seed: 14,
    });
    recordResult(r);
    expect(r.accepted).toBe(EVENTS);
    expect(r.lost).toBe(0);
    expect(target.unverified()).toBe(0);
  }, 240_000);
});
