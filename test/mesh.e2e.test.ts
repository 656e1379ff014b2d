import { statSync } from 'node:fs';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase } from './support/database.js';
import { signGeneric } from './support/generic-signature.js';
import { type RunningMesh, startMesh } from './support/mesh.js';
import { startOtlpReceiver } from './support/otlp-receiver.js';
import { startTarget } from './support/target.js';

// The whole mesh as an operator runs it: `zenmesh up` starting six processes, real Postgres, real TLS.
let db: Awaited<ReturnType<typeof createTestDatabase>>;
let otlp: Awaited<ReturnType<typeof startOtlpReceiver>>;
let target: Awaited<ReturnType<typeof startTarget>>;
let mesh: RunningMesh;

beforeAll(async () => {
  db = await createTestDatabase();
  otlp = await startOtlpReceiver();
  target = await startTarget();
  mesh = await startMesh({
    DATABASE_URL: db.url,
    OTEL_EXPORTER_OTLP_ENDPOINT: otlp.url,
    OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
    OTEL_BSP_SCHEDULE_DELAY: '200',
  });
}, 90_000);

afterAll(async () => {
  const code = await mesh?.stop();
  await target?.close();
  await otlp?.close();
  await db?.drop();
  expect(code).toBe(0);
}, 60_000);

/** The default generic scheme: a signed Unix-seconds timestamp in x-timestamp, HMAC over "<ts>.<body>". */
const sign = signGeneric;

describe('one webhook through the mesh', () => {
  const secret = 'generic-source-secret';
  let sourceId = '';
  let ingestUrl = '';
  let signingSecret = '';

  it('writes its endpoints and a private admin key', () => {
    expect(mesh.endpoints.ingester).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(mesh.endpoints.bff).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(mesh.endpoints.token).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(Object.keys(mesh.endpoints.grpc).sort()).toEqual(['backend', 'ca', 'egress', 'token']);
    expect(statSync(join(mesh.home, 'admin-api-key')).mode & 0o777).toBe(0o600);
    expect(statSync(join(mesh.home, 'secrets', 'master.key')).mode & 0o777).toBe(0o600);
  });

  it('creates a tenant, a source and an endpoint through the CLI', async () => {
    const t = await mesh.cli<{ tenant: { id: string; name: string } }>('tenant', 'create', 'acme');
    expect(t.tenant).toMatchObject({ name: 'acme', id: expect.stringMatching(/^ten_/) });
    const s = await mesh.cli<{ source: { id: string }; ingestUrl: string }>(
      'source',
      'create',
      '--tenant',
      'acme',
      '--provider',
      'generic',
      '--secret',
      secret,
    );
    sourceId = s.source.id;
    ingestUrl = s.ingestUrl;
    expect(ingestUrl).toBe(`${mesh.endpoints.ingester}/v1/webhooks/${sourceId}`);
    const e = await mesh.cli<{ endpoint: { id: string }; signingSecret: string }>(
      'endpoint',
      'create',
      '--tenant',
      'acme',
      '--url',
      target.url,
    );
    signingSecret = e.signingSecret;
    expect(signingSecret).toMatch(/^whsec_/);
  });

  it('gives generic sources a signed timestamp by default; the opt-out is explicit and warned about', async () => {
    await mesh.cli('tenant', 'create', 'cli-check');
    const made = await mesh.cliRaw('source', 'create', '--tenant', 'cli-check', '--secret', 's');
    expect([made.code, made.stderr]).toEqual([0, '']);
    expect(made.stdout).toContain('HMAC-sha256 of "<unix seconds>.<body>">, timestamp in x-timestamp');
    const weak = await mesh.cliRaw(
      'source',
      'create',
      '--tenant',
      'cli-check',
      '--secret',
      's',
      '--no-timestamp',
    );
    expect(weak.code).toBe(0);
    expect(weak.stderr).toMatch(/^zenmesh: WARNING: this source signs no timestamp \(--no-timestamp\)/);
    expect(weak.stdout).toContain('HMAC-sha256 of the body> (no timestamp)');
    const both = await mesh.cliRaw(
      'source',
      'create',
      '--tenant',
      'cli-check',
      '--secret',
      's',
      '--no-timestamp',
      '--timestamp-header',
      'x-ts',
    );
    expect(both.code).not.toBe(0);
    expect(both.stderr).toContain('--no-timestamp and --timestamp-header contradict each other');
  });

  it('refuses a forged webhook with 401 and stores nothing', async () => {
    const body = JSON.stringify({ forged: true });
    const res = await fetch(ingestUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...sign('wrong-secret', body) },
      body,
    });
    expect(res.status).toBe(401);
    expect(await res.json()).toEqual({ error: 'invalid_signature' });
    const events = await mesh.cli<{ events: unknown[] }>('events', 'list', '--tenant', 'acme');
    expect(events.events).toHaveLength(0);
  });

  it('accepts a signed webhook, records it, and delivers it signed per Standard Webhooks', async () => {
    const body = JSON.stringify({ order: 42, note: 'héllo' });
    const res = await fetch(ingestUrl, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        ...sign(secret, body),
        'x-event-type': 'order.created',
      },
      body,
    });
    expect(res.status).toBe(202);
    const accepted = (await res.json()) as { id: string };
    expect(accepted.id).toMatch(/^evt_/);

    const [delivered] = await target.waitFor(1);
    expect(delivered?.body.toString('utf8')).toBe(body);
    // The peer's own library judges our signature.
    const verified = new Webhook(signingSecret).verify(delivered?.body.toString('utf8') ?? '', {
      'webhook-id': String(delivered?.headers['webhook-id']),
      'webhook-timestamp': String(delivered?.headers['webhook-timestamp']),
      'webhook-signature': String(delivered?.headers['webhook-signature']),
    });
    expect(verified).toEqual({ order: 42, note: 'héllo' });
    expect(delivered?.headers['webhook-id']).toBe(accepted.id);

    const events = await mesh.cli<{ events: { id: string; type: string }[] }>(
      'events',
      'list',
      '--tenant',
      'acme',
    );
    expect(events.events.map((e) => e.id)).toEqual([accepted.id]);
    expect(events.events[0]?.type).toBe('order.created');

    // The attempt report reaches the backend right after the target answers.
    const deadline = Date.now() + 10_000;
    let state = '';
    while (Date.now() < deadline) {
      const d = await mesh.cli<{ deliveries: { eventId: string; state: string }[] }>(
        'deliveries',
        'list',
        '--tenant',
        'acme',
      );
      state = d.deliveries.find((x) => x.eventId === accepted.id)?.state ?? '';
      if (/succeeded/i.test(state)) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    expect(state).toMatch(/succeeded/i);

    // One trace across the three processes the webhook passed through.
    const traceDeadline = Date.now() + 15_000;
    let services = new Set<string>();
    while (Date.now() < traceDeadline) {
      const root = otlp.spans.find(
        (s) => s.service === 'zenmesh-ingester' && s.attributes['zenmesh.event.id'] === accepted.id,
      );
      if (root) {
        services = new Set(otlp.spans.filter((s) => s.traceId === root.traceId).map((s) => s.service));
        if (services.has('zenmesh-backend') && services.has('zenmesh-egress')) break;
      }
      await new Promise((r) => setTimeout(r, 250));
    }
    expect([...services].sort()).toEqual(
      expect.arrayContaining(['zenmesh-backend', 'zenmesh-egress', 'zenmesh-ingester']),
    );
  });
});

describe('supervision', () => {
  it('restarts a service killed with SIGKILL on the same address, and delivery goes on', async () => {
    const before = mesh.readEndpoints();
    const egressPid = before.pids.egress ?? 0;
    expect(egressPid).toBeGreaterThan(0);
    process.kill(egressPid, 'SIGKILL');
    const deadline = Date.now() + 30_000;
    let after = before;
    while (Date.now() < deadline) {
      after = mesh.readEndpoints();
      if (after.pids.egress && after.pids.egress !== egressPid) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    expect(after.pids.egress).not.toBe(egressPid);
    expect(after.grpc.egress).toBe(before.grpc.egress);

    const sources = await mesh.cli<{ sources: { id: string }[] }>('source', 'list', '--tenant', 'acme');
    const sourceId = sources.sources[0]?.id ?? '';
    const body = JSON.stringify({ afterRestart: true });
    const already = target.requests.length;
    const res = await fetch(`${mesh.endpoints.ingester}/v1/webhooks/${sourceId}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...sign('generic-source-secret', body) },
      body,
    });
    expect(res.status).toBe(202);
    const requests = await target.waitFor(already + 1);
    expect(requests.at(-1)?.body.toString('utf8')).toBe(body);
  });
});

describe('the internal ports speak only mutual TLS', () => {
  const call = (address: string, creds: grpc.ChannelCredentials) =>
    new Promise<grpc.ServiceError | null>((resolve) => {
      const client = new grpc.Client(address, creds);
      client.makeUnaryRequest(
        '/grpc.health.v1.Health/Check',
        (b: Buffer) => b,
        (b: Buffer) => b,
        Buffer.alloc(0),
        new grpc.Metadata(),
        { deadline: Date.now() + 3000 },
        (err) => {
          client.close();
          resolve(err);
        },
      );
    });

  it.each(['ca', 'token', 'backend', 'egress'])(
    '%s refuses a TLS client without a certificate',
    async (service) => {
      const address = mesh.endpoints.grpc[service] ?? '';
      const err = await call(
        address,
        grpc.credentials.createSsl(null, null, null, {
          rejectUnauthorized: false,
          checkServerIdentity: () => undefined,
        }),
      );
      expect(err?.code).toBe(grpc.status.UNAVAILABLE);
    },
  );

  it.each(['ca', 'token', 'backend', 'egress'])('%s refuses plaintext', async (service) => {
    const err = await call(mesh.endpoints.grpc[service] ?? '', grpc.credentials.createInsecure());
    expect(err?.code).toBe(grpc.status.UNAVAILABLE);
  });
});

describe('the admin API', () => {
  it('refuses a wrong API key', async () => {
    const r = await mesh.cliRaw('tenant', 'list', '--api-key', 'zm_not-a-real-key');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/failed \(401\): unauthenticated/);
  });
});
