import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase } from './support/database.js';
import { signGeneric } from './support/generic-signature.js';
import { type RunningMesh, startMesh } from './support/mesh.js';
import { type OpenApiDoc, validator } from './support/openapi-validator.js';
import { startTarget } from './support/target.js';

// Connections, filters and transformations (issue 16) through the running mesh: `zenmesh up`, the CLI, a
// signed webhook into the ingester, and deliveries arriving (or not) at real HTTP endpoints.
let db: Awaited<ReturnType<typeof createTestDatabase>>;
let mesh: RunningMesh;
let big: Awaited<ReturnType<typeof startTarget>>;
let slim: Awaited<ReturnType<typeof startTarget>>;
let other: Awaited<ReturnType<typeof startTarget>>;

beforeAll(async () => {
  db = await createTestDatabase();
  [big, slim, other] = await Promise.all([startTarget(), startTarget(), startTarget()]);
  mesh = await startMesh({ DATABASE_URL: db.url });
}, 90_000);

afterAll(async () => {
  const code = await mesh?.stop();
  await Promise.all([big?.close(), slim?.close(), other?.close()]);
  await db?.drop();
  expect(code).toBe(0);
}, 60_000);

const SECRET = 'routing-source-secret';

describe('a filtered, transformed connection through the mesh', () => {
  let sourceId = '';
  let ingestUrl = '';
  const endpoints: Record<string, { id: string; secret: string }> = {};
  let slimConnection = '';

  const send = async (payload: unknown, headers: Record<string, string> = {}) => {
    const body = JSON.stringify(payload);
    const res = await fetch(ingestUrl, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        ...signGeneric(SECRET, body),
        'x-event-type': 'order.created',
        ...headers,
      },
      body,
    });
    expect(res.status).toBe(202);
    return ((await res.json()) as { id: string }).id;
  };

  /** `zenmesh connection create` of the shop's source to `endpointId`; the filter/transform flags follow. */
  const connectionCreate = (endpointId: string) =>
    ['connection', 'create', '--tenant', 'shop', '--source', sourceId, '--endpoint', endpointId] as const;

  it('sets up a tenant, a source and three endpoints; the source routes to all of them at first', async () => {
    await mesh.cli('tenant', 'create', 'shop');
    const s = await mesh.cli<{ source: { id: string; routing: string }; ingestUrl: string }>(
      'source',
      'create',
      '--tenant',
      'shop',
      '--provider',
      'generic',
      '--secret',
      SECRET,
    );
    sourceId = s.source.id;
    ingestUrl = s.ingestUrl;
    expect(s.source.routing).toBe('all');
    for (const [name, target] of Object.entries({ big, slim, other })) {
      const e = await mesh.cli<{ endpoint: { id: string }; signingSecret: string }>(
        'endpoint',
        'create',
        '--tenant',
        'shop',
        '--url',
        target.url,
        '--event-type',
        'order.*',
      );
      endpoints[name] = { id: e.endpoint.id, secret: e.signingSecret };
    }
  });

  it('refuses a malformed filter with the position of the error, and stores nothing', async () => {
    const r = await mesh.cliRaw(...connectionCreate(endpoints.big?.id ?? ''), '--filter', 'body.amount >');
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/failed \(400\): invalid_argument: invalid_filter: 1:13: found > but expecting/);
    const deep = await mesh.cliRaw(
      ...connectionCreate(endpoints.big?.id ?? ''),
      '--filter',
      'body.a.all(x, body.a.all(y, body.a.all(z, x == y)))',
    );
    expect(deep.stderr).toMatch(
      /invalid_filter: would run too long: comprehensions nested 3 deep, at most 2/,
    );
    const list = await mesh.cli<{ connections: unknown[] }>('connection', 'list', '--tenant', 'shop');
    expect(list.connections).toEqual([]);
  });

  it('connects two endpoints: one filtered on body and header, one transformed', async () => {
    const a = await mesh.cli<{ connection: { id: string; filter: string } }>(
      ...connectionCreate(endpoints.big?.id ?? ''),
      '--filter',
      'body.amount >= 100 && headers["x-shop-env"] == "prod"',
    );
    expect(a.connection.filter).toContain('body.amount');
    const b = await mesh.cli<{ connection: { id: string } }>(
      ...connectionCreate(endpoints.slim?.id ?? ''),
      '--transform',
      '{"body": {"order": body.id, "kind": type}, "headers": {"x-order-id": string(body.id)}}',
    );
    slimConnection = b.connection.id;
    const sources = await mesh.cli<{ sources: { id: string; routing: string }[] }>(
      'source',
      'list',
      '--tenant',
      'shop',
    );
    expect(sources.sources.find((s) => s.id === sourceId)?.routing).toBe('connections');
    const text = await mesh.cliRaw('connection', 'list', '--tenant', 'shop');
    expect(text.stdout).toContain(b.connection.id);
  });

  it('delivers a small order to the transformed endpoint only, signed over the body it sent', async () => {
    await send({ id: 41, amount: 5 }, { 'x-shop-env': 'prod' });
    const [delivered] = await slim.waitFor(1);
    expect(delivered?.body.toString()).toBe('{"order":41,"kind":"order.created"}');
    expect(delivered?.headers['x-order-id']).toBe('41');
    expect(delivered?.headers['content-type']).toBe('application/json');
    const verified = new Webhook(endpoints.slim?.secret ?? '').verify(delivered?.body.toString() ?? '', {
      'webhook-id': String(delivered?.headers['webhook-id']),
      'webhook-timestamp': String(delivered?.headers['webhook-timestamp']),
      'webhook-signature': String(delivered?.headers['webhook-signature']),
    });
    expect(verified).toEqual({ order: 41, kind: 'order.created' });
  });

  it('delivers a big prod order to the filtered endpoint too, as received; never to the unconnected one', async () => {
    const id = await send({ id: 42, amount: 500 }, { 'x-shop-env': 'prod' });
    await send({ id: 43, amount: 900 }, { 'x-shop-env': 'staging' });
    const [delivered] = await big.waitFor(1);
    expect(delivered?.body.toString()).toBe('{"id":42,"amount":500}');
    expect(delivered?.headers['webhook-id']).toBe(id);
    await slim.waitFor(3);
    expect(big.requests).toHaveLength(1);
    expect(other.requests).toHaveLength(0);
    // The stored event is the webhook as received, with its headers.
    const events = await mesh.cli<{
      events: { id: string; dataBase64: string; headers: Record<string, string> }[];
    }>('events', 'list', '--tenant', 'shop');
    const stored = events.events.find((e) => e.id === id);
    expect(Buffer.from(stored?.dataBase64 ?? '', 'base64').toString()).toBe('{"id":42,"amount":500}');
    expect(stored?.headers['x-shop-env']).toBe('prod');
    expect(stored?.headers.authorization).toBeUndefined();
  });

  it('a transformation that fails marks the delivery dead with the reason', async () => {
    await mesh.cli(
      'connection',
      'update',
      slimConnection,
      '--tenant',
      'shop',
      '--transform',
      '{"body": body.customer.name}',
    );
    const id = await send({ id: 44, amount: 1 }, { 'x-shop-env': 'prod' });
    const list = await mesh.cli<{
      deliveries: { endpointId: string; state: string; lastError: string; connectionId: string }[];
    }>('deliveries', 'list', '--tenant', 'shop', '--event', id);
    expect(list.deliveries).toEqual([
      expect.objectContaining({
        endpointId: endpoints.slim?.id,
        state: 'dead',
        connectionId: slimConnection,
        lastError: expect.stringMatching(/^transform_failed: .*customer/),
      }),
    ]);
  });

  it('finds the dead letters with deliveries list --state dead, page by page, and refuses a forged cursor', async () => {
    const dead = await mesh.cli<{ deliveries: { id: string; state: string }[]; nextCursor: string | null }>(
      'deliveries',
      'list',
      '--tenant',
      'shop',
      '--state',
      'dead',
      '--endpoint',
      endpoints.slim?.id ?? '',
    );
    expect(dead.deliveries.map((d) => d.state)).toEqual(['dead']);
    expect(dead.nextCursor).toBeNull();
    const text = await mesh.cliRaw('deliveries', 'list', '--tenant', 'shop', '--state', 'dead');
    expect(text.stdout).toContain('transform_failed');
    // Four deliveries to slim and one to big so far: pages of two, newest first, none twice.
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const page: { deliveries: { id: string }[]; nextCursor: string | null } = await mesh.cli(
        'deliveries',
        'list',
        '--tenant',
        'shop',
        '--limit',
        '2',
        ...(cursor === null ? [] : ['--cursor', cursor]),
      );
      seen.push(...page.deliveries.map((d) => d.id));
      cursor = page.nextCursor;
    } while (cursor !== null && seen.length < 20);
    expect(seen).toHaveLength(5);
    expect(new Set(seen).size).toBe(5);
    const orders = await mesh.cli<{ events: unknown[] }>(
      'events',
      'list',
      '--tenant',
      'shop',
      '--type',
      'order.*',
      '--since',
      '1h',
    );
    expect(orders.events).toHaveLength(4);
    const forged = await mesh.cliRaw(
      'deliveries',
      'list',
      '--tenant',
      'shop',
      '--cursor',
      'bm90LWEtY3Vyc29y',
    );
    expect(forged.stderr).toMatch(/failed \(400\): invalid_argument: invalid_cursor/);
    const badState = await mesh.cliRaw('deliveries', 'list', '--tenant', 'shop', '--state', 'buried');
    expect(badState.code).not.toBe(0);
  });

  it('deleting connections is audited; switching the source back to all is explicit', async () => {
    await mesh.cli('connection', 'delete', slimConnection, '--tenant', 'shop');
    const after = await mesh.cli<{ connections: { id: string }[] }>('connection', 'list', '--tenant', 'shop');
    expect(after.connections.map((c) => c.id)).not.toContain(slimConnection);
    const audit = await mesh.cli<{ entries: { action: string }[] }>('audit', 'list', '--tenant', 'shop');
    const actions = audit.entries.map((e) => e.action);
    expect(actions.filter((a) => a === 'connection.create')).toHaveLength(2);
    expect(actions).toContain('connection.update');
    expect(actions).toContain('connection.delete');
    const back = await mesh.cli<{ source: { routing: string } }>(
      'source',
      'update',
      sourceId,
      '--tenant',
      'shop',
      '--routing',
      'all',
    );
    expect(back.source.routing).toBe('all');
    await send({ id: 45, amount: 1 });
    await other.waitFor(1);
  });

  it('answers as its OpenAPI document says (connections, events, deliveries, a refusal)', async () => {
    const doc = (await (await fetch(`${mesh.endpoints.bff}/api/v1/openapi.json`)).json()) as OpenApiDoc;
    const check = validator(doc);
    const T = '/api/v1/tenants/{tenant}';
    const listed = await mesh.cli('connection', 'list', '--tenant', 'shop');
    expect(check(`${T}/connections`, 'get', '200', listed)).toEqual([]);
    const created = await mesh.cli(...connectionCreate(endpoints.other?.id ?? ''), '--filter', 'false');
    expect(check(`${T}/connections`, 'post', '201', created)).toEqual([]);
    const events = await mesh.cli('events', 'list', '--tenant', 'shop', '--limit', '2');
    expect(check(`${T}/events`, 'get', '200', events)).toEqual([]);
    const dead = await mesh.cli('deliveries', 'list', '--tenant', 'shop', '--state', 'dead');
    expect(check(`${T}/deliveries`, 'get', '200', dead)).toEqual([]);
    const key = readFileSync(join(mesh.home, 'admin-api-key'), 'utf8').trim();
    const refused = await fetch(`${mesh.endpoints.bff}/api/v1/tenants/shop/connections`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ sourceId, endpointId: endpoints.big?.id, filter: '(' }),
    });
    expect(refused.status).toBe(400);
    expect(check(`${T}/connections`, 'post', '400', await refused.json())).toEqual([]);
    await mesh.cli(
      'connection',
      'delete',
      (created as { connection: { id: string } }).connection.id,
      '--tenant',
      'shop',
    );
  });
});
