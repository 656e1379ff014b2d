import { createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase } from './support/database.js';
import { REPO, type RunningMesh, startMesh } from './support/mesh.js';
import { startOtlpReceiver } from './support/otlp-receiver.js';
import { dashboardMetricNames, type Sample, scrape, total } from './support/prometheus.js';
import { startTarget } from './support/target.js';

// Metrics and traces of the whole mesh as `zenmesh up` runs it (six processes, real Postgres, real TLS):
// one forged and one good webhook, a replay and a `zenmesh verify`, then what /metrics and the OTLP
// receiver saw must match what happened.
let db: Awaited<ReturnType<typeof createTestDatabase>>;
let otlp: Awaited<ReturnType<typeof startOtlpReceiver>>;
let target: Awaited<ReturnType<typeof startTarget>>;
let mesh: RunningMesh;

const SOURCE_SECRET = 'observe-source-secret';
const BODY = JSON.stringify({ order: 7, note: 'payload-marker-9f3c' });
let tenantId = '';
let endpointId = '';
let signingSecret = '';
let eventId = '';

// Generic sources sign `<timestamp>.<body>` by default (the timestamp in X-Timestamp).
const TS = String(Math.floor(Date.now() / 1000));
const sign = (body: string) =>
  `sha256=${createHmac('sha256', SOURCE_SECRET).update(`${TS}.${body}`).digest('hex')}`;
const until = async <T>(what: string, fn: () => Promise<T | undefined>, ms = 20_000): Promise<T> => {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
};

beforeAll(async () => {
  db = await createTestDatabase();
  otlp = await startOtlpReceiver();
  target = await startTarget();
  mesh = await startMesh({
    DATABASE_URL: db.url,
    OTEL_EXPORTER_OTLP_ENDPOINT: otlp.url,
    OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
    OTEL_BSP_SCHEDULE_DELAY: '200',
    OTEL_METRICS_EXPORTER: 'none',
    OTEL_LOGS_EXPORTER: 'none',
  });
  const t = await mesh.cli<{ tenant: { id: string } }>('tenant', 'create', 'obs');
  tenantId = t.tenant.id;
  const s = await mesh.cli<{ ingestUrl: string }>(
    'source',
    'create',
    '--tenant',
    'obs',
    '--provider',
    'generic',
    '--secret',
    SOURCE_SECRET,
  );
  const e = await mesh.cli<{ endpoint: { id: string }; signingSecret: string }>(
    'endpoint',
    'create',
    '--tenant',
    'obs',
    '--url',
    target.url,
  );
  endpointId = e.endpoint.id;
  signingSecret = e.signingSecret;
  const post = (signature: string) =>
    fetch(s.ingestUrl, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'x-signature': signature,
        'x-timestamp': TS,
        'x-event-type': 'order.paid',
      },
      body: BODY,
    });
  expect((await post(sign('other'))).status).toBe(401);
  const accepted = await post(sign(BODY));
  expect(accepted.status).toBe(202);
  eventId = ((await accepted.json()) as { id: string }).id;
  await target.waitFor(1);
  // A replay is leased by egress's poll, not nudged: its attempt finds the trace through the stored event.
  await mesh.cli('replay', 'event', eventId, '--tenant', 'obs');
  await target.waitFor(2);
}, 120_000);

afterAll(async () => {
  const code = await mesh?.stop();
  await target?.close();
  await otlp?.close();
  await db?.drop();
  expect(code).toBe(0);
}, 60_000);

describe('traces', () => {
  it('`zenmesh events show` prints the trace id, and the Jaeger link with JAEGER_UI_URL', async () => {
    const shown = await mesh.cli<{ event: { id: string; traceId: string }; traceUrl?: string }>(
      'events',
      'show',
      eventId,
      '--tenant',
      'obs',
    );
    expect(shown.event.id).toBe(eventId);
    expect(shown.event.traceId).toMatch(/^[0-9a-f]{32}$/);
    expect(shown.traceUrl).toBeUndefined();
    const text = await mesh.cliRawEnv(
      { JAEGER_UI_URL: 'http://127.0.0.1:16686/' },
      'events',
      'show',
      eventId,
      '--tenant',
      'obs',
    );
    expect(text.code).toBe(0);
    expect(text.stdout).toContain(`trace     ${shown.event.traceId}`);
    expect(text.stdout).toContain(`http://127.0.0.1:16686/trace/${shown.event.traceId}`);
    expect(text.stdout).not.toContain('payload-marker');
  });

  it('refuses an unknown, a malformed or another tenant’s event id', async () => {
    const unknown = await mesh.cliRaw('events', 'show', 'evt_aaaaaaaaaaaaaaaaaaaaaaaaaa', '--tenant', 'obs');
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/404/);
    const malformed = await mesh.cliRaw('events', 'show', 'evt_NOT-AN-ID', '--tenant', 'obs');
    expect(malformed.code).toBe(1);
    expect(malformed.stderr).toMatch(/400.*invalid_event_id/);
    await mesh.cli('tenant', 'create', 'obs-other');
    const foreign = await mesh.cliRaw('events', 'show', eventId, '--tenant', 'obs-other');
    expect(foreign.code).toBe(1);
    expect(foreign.stderr).toMatch(/404/);
    const badLink = await mesh.cliRawEnv(
      { JAEGER_UI_URL: 'javascript:alert(1)' },
      'events',
      'show',
      eventId,
      '--tenant',
      'obs',
    );
    expect(badLink.code).not.toBe(0);
    expect(badLink.stderr).toMatch(/JAEGER_UI_URL must be an http\(s\) URL/);
  });

  it('puts every hop (ingester → backend → egress → each attempt, the replay too) in that one trace', async () => {
    const { event } = await mesh.cli<{ event: { traceId: string } }>(
      'events',
      'show',
      eventId,
      '--tenant',
      'obs',
    );
    const hop = (service: string, name: string) => (s: (typeof otlp.spans)[number]) =>
      s.traceId === event.traceId && s.service === service && s.name === name;
    const attempts = await until('both delivery attempts in the trace', async () => {
      const found = otlp.spans.filter(hop('zenmesh-egress', 'webhook.deliver'));
      return found.length >= 2 ? found : undefined;
    });
    const ingest = otlp.spans.find(hop('zenmesh-ingester', 'POST /v1/webhooks/{sourceId}'));
    const record = otlp.spans.find(hop('zenmesh-backend', 'zenmesh.v1.EventService/RecordEvent'));
    const dispatch = otlp.spans.find(hop('zenmesh-egress', 'zenmesh.v1.EgressService/Dispatch'));
    expect(ingest?.attributes).toMatchObject({ 'zenmesh.event.id': eventId, 'zenmesh.tenant.id': tenantId });
    expect(ingest?.parentSpanId).toBe('');
    expect(record?.attributes).toMatchObject({ 'zenmesh.event.id': eventId, 'zenmesh.tenant.id': tenantId });
    expect(dispatch).toBeDefined();
    for (const a of attempts) {
      expect(a.attributes).toMatchObject({
        'zenmesh.event.id': eventId,
        'zenmesh.tenant.id': tenantId,
        'zenmesh.endpoint.id': endpointId,
        'http.response.status_code': 200,
      });
    }
    // The replayed attempt (no Dispatch call) hangs off the RecordEvent span stored with the event.
    expect(attempts.map((a) => a.parentSpanId)).toContain(record?.spanId);
  });

  it('carries no secret and no payload in any span of any service', () => {
    const everything = JSON.stringify(otlp.spans.map((s) => [s.name, s.attributes]));
    const apiKey = readFileSync(join(mesh.home, 'admin-api-key'), 'utf8').trim();
    for (const secret of [
      SOURCE_SECRET,
      signingSecret,
      signingSecret.slice(6),
      apiKey,
      'payload-marker',
      sign(BODY),
    ]) {
      expect(everything).not.toContain(secret);
    }
  });
});

describe('metrics', () => {
  const scrapeAll = async (): Promise<Record<string, Sample[]>> => {
    const urls = mesh.readEndpoints().metrics;
    const all: Record<string, Sample[]> = {};
    for (const [service, url] of Object.entries(urls)) all[service] = await scrape(url);
    return all;
  };

  it('serves /metrics for all six services on loopback, as `zenmesh up` printed', () => {
    const urls = mesh.endpoints.metrics;
    expect(Object.keys(urls).sort()).toEqual(['backend', 'bff', 'ca', 'egress', 'ingester', 'token']);
    for (const [service, url] of Object.entries(urls)) {
      expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
      expect(mesh.output()).toContain(`${service.padEnd(9)} ${url}`);
    }
  });

  it('counts what happened: refusals, requests, attempts, latency, queue, identities, CA state', async () => {
    const m = await until('the backend to see an empty queue', async () => {
      const all = await scrapeAll();
      return total(all.backend ?? [], 'zenmesh_delivery_queue_depth') === 0 ? all : undefined;
    });
    const ingester = m.ingester ?? [];
    expect(total(ingester, 'zenmesh_ingest_refusals_total', { reason: 'signature_mismatch' })).toBe(1);
    expect(total(ingester, 'zenmesh_ingest_refusals_total')).toBe(1);
    const webhookRoute = { route: '/v1/webhooks/{sourceId}', method: 'POST' };
    const requests = 'zenmesh_http_request_duration_seconds_count';
    expect(total(ingester, requests, { ...webhookRoute, status: '202' })).toBe(1);
    expect(total(ingester, requests, { ...webhookRoute, status: '401' })).toBe(1);
    expect(
      total(m.bff ?? [], requests, { route: '/api/v1/tenants/{tenant}/events/{id}', status: '200' }),
    ).toBeGreaterThan(0);
    // The launcher's health check asked the token service's HTTP face once.
    expect(total(m.token ?? [], requests, { route: '/healthz', status: '200' })).toBe(1);
    const egress = m.egress ?? [];
    expect(total(egress, 'zenmesh_delivery_attempts_total', { outcome: 'success' })).toBe(
      target.requests.length,
    );
    expect(total(egress, 'zenmesh_delivery_attempts_total')).toBe(2);
    expect(total(egress, 'zenmesh_delivery_attempt_duration_seconds_count', { outcome: 'success' })).toBe(2);
    // End-to-end latency counts the first schedule only: the replay is left out.
    expect(total(egress, 'zenmesh_delivery_latency_seconds_count')).toBe(1);
    expect(total(m.backend ?? [], 'zenmesh_delivery_queue_oldest_due_seconds')).toBe(0);
    for (const service of ['token', 'backend', 'egress', 'ingester', 'bff']) {
      const left = total(m[service] ?? [], 'zenmesh_svid_expiry_seconds');
      expect({ service, ok: left > 1800 && left <= 3600 }).toEqual({ service, ok: true });
    }
    const ca = m.ca ?? [];
    expect(total(ca, 'zenmesh_ca_rotation_phase', { phase: 'idle' })).toBe(1);
    expect(total(ca, 'zenmesh_ca_rotation_phase')).toBe(1);
    expect(total(ca, 'zenmesh_ca_rotation_in_progress')).toBe(0);
    expect(total(ca, 'zenmesh_ca_authorities', { state: 'active' })).toBe(1);
    // Labels stay bounded and clean: no event, tenant, source or endpoint id, no secret.
    const text = JSON.stringify(m);
    for (const leaked of [eventId, tenantId, endpointId, SOURCE_SECRET, signingSecret, 'payload-marker']) {
      expect(text).not.toContain(leaked);
    }
    expect(text).not.toMatch(/src_[a-z2-7]{26}/);
  });

  it('counts each rpc admission refusal `zenmesh verify` provokes, by reason', async () => {
    const before = await scrapeAll();
    const r = await mesh.cliRaw('verify', '--json');
    const report = JSON.parse(r.stdout) as {
      flows: { cells: { probe: string; observed: string }[] }[];
      denied: { observed: string }[];
    };
    const after = await scrapeAll();
    const refused = (all: Record<string, Sample[]>, reason: string) =>
      Object.values(all).reduce((n, s) => n + total(s, 'zenmesh_rpc_refusals_total', { reason }), 0);
    for (const reason of [
      'spiffe_id_not_allowed',
      'missing_signature',
      'bad_signature',
      'stale_timestamp',
      'replayed_nonce',
    ]) {
      // The matrix's cells and the calls denied to a caller's own identity (policy alone).
      const observed = [...report.flows.flatMap((f) => f.cells), ...report.denied].filter((c) =>
        c.observed.replace(/, refusal (NOT )?signed$/, '').endsWith(` ${reason}`),
      ).length;
      expect(observed).toBeGreaterThan(0);
      expect({ reason, counted: refused(after, reason) - refused(before, reason) }).toEqual({
        reason,
        counted: observed,
      });
    }
  }, 120_000);

  it('exports every metric the Grafana dashboard queries', async () => {
    const dashboard = JSON.parse(readFileSync(join(REPO, 'deploy/grafana/zenmesh-dashboard.json'), 'utf8'));
    const queried = dashboardMetricNames(dashboard);
    expect(queried.length).toBeGreaterThan(10);
    const exported = new Set(Object.values(await scrapeAll()).flatMap((s) => s.map((x) => x.name)));
    expect(queried.filter((name) => !exported.has(name))).toEqual([]);
  });
});
