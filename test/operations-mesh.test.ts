import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createDatabase, type Db } from '@zenmesh/db';
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase } from './support/database.js';
import { signGeneric } from './support/generic-signature.js';
import { type RunningMesh, startMesh } from './support/mesh.js';
import { type OpenApiDoc, validator } from './support/openapi-validator.js';
import { type ReceivedRequest, startTarget } from './support/target.js';

// Retention and operational notifications (issue 16) through the running mesh: `zenmesh up`, the CLI, the
// ingester's batched signature-failure reports, egress's signed deliveries, the CA's rollback and the
// backend's purge job. Notifications are verified with the official `standardwebhooks` package.
let db: Awaited<ReturnType<typeof createTestDatabase>>;
let admin: Db;
let mesh: RunningMesh;
let customer: Awaited<ReturnType<typeof startTarget>>;
let ops: Awaited<ReturnType<typeof startTarget>>;

beforeAll(async () => {
  db = await createTestDatabase();
  // The customer's endpoint is gone (410): its first attempt disables it.
  [customer, ops] = await Promise.all([startTarget(410), startTarget()]);
  mesh = await startMesh({
    DATABASE_URL: db.url,
    ZENMESH_RETENTION_INTERVAL_MS: '1000',
    ZENMESH_SIGNATURE_SPIKE_THRESHOLD: '3',
    ZENMESH_INGEST_SIGNATURE_REPORT_MS: '300',
    ZENMESH_CA_POLL_INTERVAL_MS: '1000',
  });
  admin = await createDatabase({ url: db.url });
}, 90_000);

afterAll(async () => {
  const code = await mesh?.stop();
  await admin?.close();
  await Promise.all([customer?.close(), ops?.close()]);
  await db?.drop();
  expect(code).toBe(0);
}, 60_000);

const SECRET = 'operations-source-secret';

describe('retention settings and operational notifications through the mesh', () => {
  let sourceId = '';
  let ingestUrl = '';
  let customerId = '';
  let opsId = '';
  let opsSecret = '';

  const notices = async (n: number, type: string): Promise<ReceivedRequest[]> => {
    const deadline = Date.now() + 20_000;
    for (;;) {
      const found = ops.requests.filter((r) => r.headers['ce-type'] === type);
      if (found.length >= n) return found;
      if (Date.now() > deadline)
        throw new Error(`no ${type} notice in 20 s (${ops.requests.length} requests)`);
      await new Promise((r) => setTimeout(r, 100));
    }
  };
  /** Verified with the official package, over the bytes received: throws unless signed with the endpoint's secret. */
  const verified = (r: ReceivedRequest) =>
    new Webhook(opsSecret).verify(r.body.toString('utf8'), r.headers as Record<string, string>) as Record<
      string,
      unknown
    >;

  it('sets up a tenant; the settings refuse values outside their bounds with a stable reason, changing nothing', async () => {
    await mesh.cli('tenant', 'create', 'opsco');
    const s = await mesh.cli<{ source: { id: string }; ingestUrl: string }>(
      'source',
      'create',
      '--tenant',
      'opsco',
      '--provider',
      'generic',
      '--secret',
      SECRET,
    );
    sourceId = s.source.id;
    ingestUrl = s.ingestUrl;
    const c = await mesh.cli<{ endpoint: { id: string } }>(
      'endpoint',
      'create',
      '--tenant',
      'opsco',
      '--url',
      customer.url,
    );
    customerId = c.endpoint.id;
    // The notification endpoint subscribes to no webhook type; operational events reach it regardless.
    const o = await mesh.cli<{ endpoint: { id: string }; signingSecret: string }>(
      'endpoint',
      'create',
      '--tenant',
      'opsco',
      '--url',
      ops.url,
      '--event-type',
      'zenmesh.none',
    );
    opsId = o.endpoint.id;
    opsSecret = o.signingSecret;

    const shown = await mesh.cli<{ settings: Record<string, unknown> }>(
      'tenant',
      'settings',
      'show',
      'opsco',
    );
    expect(shown.settings).toMatchObject({
      retentionDays: 30,
      auditRetentionDays: 365,
      notificationEndpointId: null,
    });
    for (const [args, message] of [
      [['--retention-days', '0'], '(400): invalid_argument: retention_days_out_of_bounds: 1-365'],
      [['--retention-days', '366'], '(400): invalid_argument: retention_days_out_of_bounds: 1-365'],
      [
        ['--audit-retention-days', '29'],
        '(400): invalid_argument: audit_retention_days_out_of_bounds: 30-3650',
      ],
      [['--notification-endpoint', 'ep_nope'], '(404): not_found: endpoint_not_found'],
    ] as const) {
      const r = await mesh.cliRaw('tenant', 'settings', 'set', 'opsco', ...args);
      expect([args, r.code === 0, r.stderr]).toEqual([args, false, expect.stringContaining(message)]);
    }
    const usage = await mesh.cliRaw('tenant', 'settings', 'set', 'opsco', '--retention-days', 'ten');
    expect(usage.code).not.toBe(0);
    expect(usage.stderr).toContain('expected a whole number of days');
    expect(
      (await mesh.cli<{ settings: { retentionDays: number } }>('tenant', 'settings', 'show', 'opsco'))
        .settings.retentionDays,
    ).toBe(30);

    const set = await mesh.cli<{ settings: Record<string, unknown> }>(
      'tenant',
      'settings',
      'set',
      'opsco',
      '--retention-days',
      '7',
      '--notification-endpoint',
      opsId,
    );
    expect(set.settings).toMatchObject({ retentionDays: 7, notificationEndpointId: opsId });
    const human = await mesh.cliRaw('tenant', 'settings', 'show', 'opsco');
    expect(human.stdout).toContain('events and attempts kept 7 days');

    // The answers and a refusal, as the bff's OpenAPI document describes them.
    const check = validator(
      (await (await fetch(`${mesh.endpoints.bff}/api/v1/openapi.json`)).json()) as OpenApiDoc,
    );
    const path = '/api/v1/tenants/{tenant}/settings';
    expect(check(path, 'get', '200', shown)).toEqual([]);
    expect(check(path, 'post', '200', set)).toEqual([]);
    const key = readFileSync(join(mesh.home, 'admin-api-key'), 'utf8').trim();
    const refused = await fetch(`${mesh.endpoints.bff}/api/v1/tenants/opsco/settings`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ retentionDays: 7, extra: true }),
    });
    expect(refused.status).toBe(400);
    expect(check(path, 'post', '400', await refused.json())).toEqual([]);
    const empty = await fetch(`${mesh.endpoints.bff}/api/v1/tenants/opsco/settings`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: '{}',
    });
    expect(await empty.json()).toEqual({ error: 'invalid_argument', message: 'nothing to change' });
  });

  it('an endpoint auto-disabled by a 410 sends zenmesh.endpoint.disabled, signed for the notification endpoint', async () => {
    const body = JSON.stringify({ id: 1 });
    const res = await fetch(ingestUrl, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        ...signGeneric(SECRET, body),
        'x-event-type': 'order.created',
      },
      body,
    });
    expect(res.status).toBe(202);
    await customer.waitFor(1);
    const [notice] = await notices(1, 'zenmesh.endpoint.disabled');
    if (notice === undefined) throw new Error('no notice');
    expect(verified(notice)).toMatchObject({
      subject: `endpoint/${customerId}`,
      endpointId: customerId,
      reason: 'gone',
      lastStatusCode: 410,
      url: customer.url,
    });
    expect(notice.headers['ce-source']).toBe('/zenmesh');
    // Signed with the notification endpoint's secret, not any other: a tampered body does not verify.
    expect(() =>
      new Webhook(opsSecret).verify(`${notice.body.toString()} `, notice.headers as Record<string, string>),
    ).toThrow();
    const endpoints = await mesh.cli<{ endpoints: Array<{ id: string; enabled: boolean }> }>(
      'endpoint',
      'list',
      '--tenant',
      'opsco',
    );
    expect(endpoints.endpoints.find((e) => e.id === customerId)?.enabled).toBe(false);
  });

  it('a spike of invalid signatures at the ingester sends zenmesh.source.signature_failures once', async () => {
    for (let i = 0; i < 4; i++) {
      const res = await fetch(ingestUrl, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...signGeneric('not-the-secret', '{}') },
        body: '{}',
      });
      expect(res.status).toBe(401);
    }
    const [notice] = await notices(1, 'zenmesh.source.signature_failures');
    if (notice === undefined) throw new Error('no notice');
    const data = verified(notice);
    expect(data).toMatchObject({ subject: `source/${sourceId}`, sourceId, threshold: 3 });
    expect(data.failures).toBeGreaterThanOrEqual(3);
    // More failures in the same window: still one notice.
    for (let i = 0; i < 3; i++)
      await fetch(ingestUrl, { method: 'POST', headers: signGeneric('nope', '{}'), body: '{}' });
    await new Promise((r) => setTimeout(r, 1500));
    expect(
      ops.requests.filter((r) => r.headers['ce-type'] === 'zenmesh.source.signature_failures'),
    ).toHaveLength(1);
  });

  it('a CA rotation that rolls back sends zenmesh.ca.rotation.rolled_back to the tenant', async () => {
    // The ingester serves no gRPC, so the CA cannot probe it as a canary: the rotation rolls back.
    const rotate = await mesh.cliRaw('ca', 'rotate', '--canary', 'ingester');
    expect(rotate.code).toBe(1);
    const [notice] = await notices(1, 'zenmesh.ca.rotation.rolled_back');
    if (notice === undefined) throw new Error('no notice');
    expect(verified(notice)).toMatchObject({
      reason: expect.stringContaining('reported no serving address to probe'),
    });
  }, 60_000);

  it('purges events past the tenant retention (not younger ones); the audit chain still verifies', async () => {
    const listEvents = async () =>
      (await mesh.cli<{ events: Array<{ id: string; type: string }> }>('events', 'list', '--tenant', 'opsco'))
        .events;
    const before = await listEvents();
    // The webhook to the gone endpoint: its delivery waits (the endpoint disabled), so it is kept.
    const webhook = before.find((e) => e.type === 'order.created')?.id ?? '';
    // The endpoint-disabled notice: delivered, so it goes. The other notices are younger and stay.
    const notice = before.find((e) => e.type === 'zenmesh.endpoint.disabled')?.id ?? '';
    const young = before.filter((e) => e.id !== webhook && e.id !== notice).map((e) => e.id);
    expect(young.length).toBeGreaterThanOrEqual(2);
    const states = await admin.query<{ state: string }>(
      'select state from core.deliveries where event_id = $1',
      [webhook],
    );
    // Stands in for eight days passing: the purge job runs every second in this mesh.
    await admin.query(`update core.events set received_at = now() - interval '8 days' where id = any($1)`, [
      [webhook, notice],
    ]);
    const deadline = Date.now() + 20_000;
    while ((await listEvents()).some((e) => e.id === notice)) {
      if (Date.now() > deadline) throw new Error('the delivered old notice was not purged in 20 s');
      await new Promise((r) => setTimeout(r, 300));
    }
    const after = (await listEvents()).map((e) => e.id);
    for (const id of young) expect(after).toContain(id);
    // Kept: its delivery still waits (retrying, for an endpoint that is disabled now).
    expect(states.rows.map((r) => r.state)).toEqual(['retrying']);
    expect(after).toContain(webhook);
    const left = await admin.query<{ n: number }>(
      'select count(*)::int as n from core.deliveries where event_id = $1',
      [notice],
    );
    expect(left.rows[0]?.n).toBe(0);
    const audit = await mesh.cli<{ entries: Array<{ action: string }> }>(
      'audit',
      'list',
      '--tenant',
      'opsco',
    );
    expect(audit.entries.map((e) => e.action)).toContain('tenant.retention.purge');
    const verify = await mesh.cliRaw('audit', 'verify', '--tenant', 'opsco');
    expect(verify.code).toBe(0);
    expect(verify.stdout).toContain('audit chain intact');
  });
});
