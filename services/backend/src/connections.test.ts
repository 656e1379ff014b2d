import { randomBytes } from 'node:crypto';
import type { Db } from '@zenmesh/db';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listAudit } from './audit-verify.js';
import { createBackend } from './backend.js';
import { createConnection, deleteConnection, listConnections, updateConnection } from './connections.js';
import { leaseDeliveries } from './delivery-lease.js';
import { createEndpoint } from './endpoints.js';
import { recordEvent } from './event-batch.js';
import { replayDelivery, replayEndpoint, replayEvent } from './replay.js';
import { searchDeliveries, searchEvents } from './search.js';
import { createSecretBoxes } from './secrets.js';
import { createSource, listSources, updateSource } from './sources.js';
import { createTenant } from './tenants.js';
import { DATABASE_KINDS } from './test-support/databases.js';

const masterKey = randomBytes(32);
const boxes = createSecretBoxes(masterKey);
const unique = () => randomBytes(4).toString('hex');
const json = (v: unknown) => new TextEncoder().encode(JSON.stringify(v));

// Connections, filters and transformations on a real Postgres and on PGlite, as the application role.
describe.each(DATABASE_KINDS)('routing on $name', ({ open }) => {
  let db: Db;
  let cleanup: () => Promise<void>;

  beforeAll(async () => {
    ({ db, cleanup } = await open());
    await createBackend({ db, masterKey }).migrate();
  });
  afterAll(async () => {
    await db.close();
    await cleanup();
  });

  const setup = async () => {
    const tenant = await createTenant(db, `r-${unique()}`);
    const source = await createSource(db, boxes, {
      tenant: tenant.id,
      provider: 'generic',
      name: 's',
      secret: 'x',
    });
    const ep = async (eventTypes: string[] = []) =>
      (await createEndpoint(db, boxes, { tenant: tenant.id, url: 'https://a.example/h', eventTypes }))
        .endpoint;
    return { tenant, source, ep };
  };
  const record = (
    sourceId: string,
    data: unknown,
    headers: Record<string, string> = {},
    type = 'order.created',
  ) => recordEvent(db, { sourceId, type, datacontenttype: 'application/json', data: json(data), headers });
  const deliveriesOf = async (tenantId: string, eventId: string) =>
    (await searchDeliveries(db, tenantId, { eventId })).items.sort((a, b) =>
      a.endpointId.localeCompare(b.endpointId),
    );

  it('a source without connections keeps routing to every enabled endpoint whose types match (wildcards too)', async () => {
    const { tenant, source, ep } = await setup();
    const all = await ep();
    const orders = await ep(['order.*']);
    const star = await ep(['*']);
    await ep(['invoice.*']);
    expect((await listSources(db, tenant.id))[0]?.routing).toBe('all');
    const rec = await record(source.id, { n: 1 });
    const got = (await deliveriesOf(tenant.id, rec.event.id)).map((d) => d.endpointId);
    expect(got).toEqual([all.id, orders.id, star.id].sort());
  });

  it('the first connection switches the source to its connections, audited; filters and transformations apply', async () => {
    const { tenant, source, ep } = await setup();
    const a = await ep();
    const b = await ep(['order.*']);
    const unconnected = await ep();
    const filtered = await createConnection(db, {
      tenant: tenant.name,
      sourceId: source.id,
      endpointId: a.id,
      filter: 'body.amount > 100 && headers["x-env"] == "prod"',
      audit: { actor: 'user:alice' },
    });
    await createConnection(db, {
      tenant: tenant.id,
      sourceId: source.id,
      endpointId: b.id,
      transform: '{"body": {"order": body.id, "kind": type}, "headers": {"x-order": string(body.id)}}',
    });
    expect((await listSources(db, tenant.id))[0]?.routing).toBe('connections');
    const audit = await listAudit(db, tenant.id, {});
    expect(audit.slice(-3).map((r) => [r.action, r.actor])).toEqual([
      ['connection.create', 'user:alice'],
      ['source.update', 'user:alice'],
      ['connection.create', 'system'],
    ]);
    expect(audit.at(-2)?.after).toEqual({ routing: 'connections', because: `connection/${filtered.id}` });

    const small = await record(source.id, { id: 7, amount: 5 }, { 'x-env': 'prod' });
    const big = await record(source.id, { id: 8, amount: 500 }, { 'x-env': 'prod' });
    expect((await deliveriesOf(tenant.id, small.event.id)).map((d) => d.endpointId)).toEqual([b.id]);
    const bigDeliveries = await deliveriesOf(tenant.id, big.event.id);
    expect(bigDeliveries.map((d) => d.endpointId).sort()).toEqual([a.id, b.id].sort());
    expect(bigDeliveries.some((d) => d.endpointId === unconnected.id)).toBe(false);

    // Egress gets the transformed body and headers; the stored event is unchanged.
    const leased = await leaseDeliveries(db, boxes, { eventId: big.event.id });
    const toB = leased.find((l) => l.delivery.endpointId === b.id);
    expect(Buffer.from(toB?.event.data ?? []).toString()).toBe('{"order":8,"kind":"order.created"}');
    expect(toB?.headers).toEqual({ 'x-order': '8' });
    expect(toB?.delivery.connectionId).toMatch(/^con_/);
    const toA = leased.find((l) => l.delivery.endpointId === a.id);
    expect(Buffer.from(toA?.event.data ?? []).toString()).toBe('{"id":8,"amount":500}');
    expect(toA?.headers).toEqual({});
    const [stored] = (await searchEvents(db, tenant.id)).items.filter((e) => e.id === big.event.id);
    expect(Buffer.from(stored?.data ?? []).toString()).toBe('{"id":8,"amount":500}');
    expect(stored?.headers).toEqual({ 'x-env': 'prod' });
  });

  it('a failing transformation, or a filter cut off, stores the delivery dead with the reason', async () => {
    const { tenant, source, ep } = await setup();
    const a = await ep();
    const b = await ep();
    await createConnection(db, {
      tenant: tenant.id,
      sourceId: source.id,
      endpointId: a.id,
      transform: '{"body": body.nope}',
    });
    await createConnection(db, {
      tenant: tenant.id,
      sourceId: source.id,
      endpointId: b.id,
      filter: 'body.items.all(x, body.items.all(y, x != y || x == y))',
    });
    const rec = await record(source.id, { items: Array.from({ length: 300 }, (_, i) => i) });
    const got = await deliveriesOf(tenant.id, rec.event.id);
    const byEndpoint = new Map(got.map((d) => [d.endpointId, d]));
    expect(byEndpoint.get(a.id)).toMatchObject({
      state: 'dead',
      lastError: expect.stringMatching(/^transform_failed: .*nope/),
    });
    expect(byEndpoint.get(b.id)).toMatchObject({
      state: 'dead',
      // Whichever bound comes first on this machine.
      lastError: expect.stringMatching(/^filter_failed: cut off: (more than 10000 steps|longer than 50 ms)$/),
    });
    expect(byEndpoint.get(a.id)?.deadAt).toBeInstanceOf(Date);
    // Dead deliveries are never leased.
    expect(await leaseDeliveries(db, boxes, { eventId: rec.event.id })).toEqual([]);
  });

  it('refuses a malformed filter with its position, and what does not exist or is not the tenant’s', async () => {
    const { tenant, source, ep } = await setup();
    const a = await ep();
    const other = await setup();
    const foreign = await other.ep();
    const base = { tenant: tenant.id, sourceId: source.id, endpointId: a.id };
    await expect(createConnection(db, { ...base, filter: 'body.amount >' })).rejects.toMatchObject({
      code: 'ERR_INVALID_ARGUMENT',
      reason: expect.stringMatching(/^invalid_filter: 1:13: /),
    });
    await expect(
      createConnection(db, { ...base, transform: '{"body": body.a.all(x, x.all(y, y.all(z, z)))}' }),
    ).rejects.toMatchObject({
      reason: 'invalid_transform: would run too long: comprehensions nested 3 deep, at most 2',
    });
    await expect(createConnection(db, { ...base, endpointId: foreign.id })).rejects.toMatchObject({
      code: 'ERR_NOT_FOUND',
      reason: 'endpoint_not_found',
    });
    await expect(createConnection(db, { ...base, sourceId: other.source.id })).rejects.toMatchObject({
      reason: 'source_not_found',
    });
    // Nothing was stored by the refusals, and the source still routes to every endpoint.
    expect(await listConnections(db, tenant.id)).toEqual([]);
    expect((await listSources(db, tenant.id))[0]?.routing).toBe('all');
    await createConnection(db, base);
    await expect(createConnection(db, base)).rejects.toMatchObject({
      code: 'ERR_ALREADY_EXISTS',
      reason: 'connection_exists',
    });
    // The other tenant cannot see or change it.
    const [mine] = await listConnections(db, tenant.id);
    expect(await listConnections(db, other.tenant.id)).toEqual([]);
    await expect(
      updateConnection(db, { tenant: other.tenant.id, connectionId: mine?.id ?? '', enabled: false }),
    ).rejects.toMatchObject({ reason: 'connection_not_found' });
    await expect(
      updateConnection(db, { tenant: tenant.id, connectionId: mine?.id ?? '' }),
    ).rejects.toMatchObject({
      reason: 'no_changes',
    });
  });

  it('update and delete are audited; with no connection left the source routes nowhere until switched back', async () => {
    const { tenant, source, ep } = await setup();
    const a = await ep();
    const c = await createConnection(db, { tenant: tenant.id, sourceId: source.id, endpointId: a.id });
    const updated = await updateConnection(db, {
      tenant: tenant.id,
      connectionId: c.id,
      filter: 'type == "x"',
    });
    expect(updated.filter).toBe('type == "x"');
    await expect(
      updateConnection(db, { tenant: tenant.id, connectionId: c.id, filter: 'type ==' }),
    ).rejects.toMatchObject({ reason: expect.stringMatching(/^invalid_filter: 1:\d+: /) });
    expect((await record(source.id, {})).deliveryIds).toEqual([]);
    await deleteConnection(db, { tenant: tenant.id, connectionId: c.id, audit: { actor: 'user:bob' } });
    expect(await listConnections(db, tenant.id)).toEqual([]);
    expect((await record(source.id, {})).deliveryIds).toEqual([]);
    const audit = await listAudit(db, tenant.id, {});
    expect(audit.slice(-2).map((r) => r.action)).toEqual(['connection.update', 'connection.delete']);
    expect(audit.at(-1)?.before).toMatchObject({ endpointId: a.id, filter: 'type == "x"' });
    await expect(deleteConnection(db, { tenant: tenant.id, connectionId: c.id })).rejects.toMatchObject({
      reason: 'connection_not_found',
    });
    await updateSource(db, { tenant: tenant.id, sourceId: source.id, routing: 'all' });
    expect((await record(source.id, {})).deliveryIds).toHaveLength(1);
    await expect(
      updateSource(db, { tenant: tenant.id, sourceId: source.id, routing: 'some' }),
    ).rejects.toMatchObject({
      reason: 'invalid_routing',
    });
    // The pair may be connected again once deleted.
    await createConnection(db, { tenant: tenant.id, sourceId: source.id, endpointId: a.id });
  });

  it('replays route again: a fixed transformation rescues its dead letters, a failing one is refused', async () => {
    const { tenant, source, ep } = await setup();
    const a = await ep();
    const unconnected = await ep();
    const c = await createConnection(db, {
      tenant: tenant.id,
      sourceId: source.id,
      endpointId: a.id,
      transform: '{"body": {"who": body.customer.name}}',
    });
    const rec = await record(source.id, { customer: {} });
    const [dead] = await deliveriesOf(tenant.id, rec.event.id);
    expect(dead?.state).toBe('dead');
    await expect(replayDelivery(db, { tenant: tenant.id, deliveryId: dead?.id ?? '' })).rejects.toMatchObject(
      {
        code: 'ERR_FAILED_PRECONDITION',
        reason: expect.stringMatching(/^transform_failed: /),
      },
    );
    const since = new Date(Date.now() - 60_000);
    expect(await replayEndpoint(db, { tenant: tenant.id, endpointId: a.id, since })).toEqual({
      deliveryIds: [],
      skippedInFlight: [],
      skippedRouting: [dead?.id],
    });
    await updateConnection(db, {
      tenant: tenant.id,
      connectionId: c.id,
      transform: '{"body": {"who": "anon"}}',
    });
    const replayed = await replayDelivery(db, { tenant: tenant.id, deliveryId: dead?.id ?? '' });
    expect(replayed).toMatchObject({ state: 'pending', lastError: null, connectionId: c.id });
    const [leased] = await leaseDeliveries(db, boxes, { eventId: rec.event.id });
    expect(Buffer.from(leased?.event.data ?? []).toString()).toBe('{"who":"anon"}');
    // Replaying the event routes it as now: the unconnected endpoint still gets nothing.
    const again = await replayEvent(db, { tenant: tenant.id, eventId: rec.event.id });
    expect(again.deliveryIds).toEqual([]);
    expect(again.skippedInFlight).toEqual([dead?.id]);
    expect((await deliveriesOf(tenant.id, rec.event.id)).map((d) => d.endpointId)).not.toContain(
      unconnected.id,
    );
    // Once its connection is deleted, a connection-routed delivery is not replayed untransformed.
    await deleteConnection(db, { tenant: tenant.id, connectionId: c.id });
    await db.withTenant(tenant.id, (tx) =>
      tx.query('update core.deliveries set lease_token = null, lease_expires_at = null where event_id = $1', [
        rec.event.id,
      ]),
    );
    await expect(replayDelivery(db, { tenant: tenant.id, deliveryId: dead?.id ?? '' })).rejects.toMatchObject(
      {
        reason: 'connection_deleted',
      },
    );
  });

  it('refuses oversized or malformed event headers and stores nothing', async () => {
    const { tenant, source } = await setup();
    const many = Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`x-h${i}`, 'v']));
    await expect(record(source.id, {}, many)).rejects.toMatchObject({ reason: 'too_many_headers' });
    await expect(record(source.id, {}, { 'Bad Name': 'v' })).rejects.toMatchObject({
      reason: 'invalid_headers',
    });
    await expect(record(source.id, {}, { 'x-a': 'a\nb' })).rejects.toMatchObject({
      reason: 'invalid_headers',
    });
    expect((await searchEvents(db, tenant.id)).items).toEqual([]);
  });
});
