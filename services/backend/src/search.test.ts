import { randomBytes } from 'node:crypto';
import type { Db } from '@zenmesh/db';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBackend } from './backend.js';
import { createEndpoint } from './endpoints.js';
import { recordEvent } from './event-batch.js';
import { encodeCursor, searchDeliveries, searchEvents } from './search.js';
import { createSecretBoxes } from './secrets.js';
import { createSource } from './sources.js';
import { createTenant } from './tenants.js';
import { DATABASE_KINDS } from './test-support/databases.js';

const masterKey = randomBytes(32);
const boxes = createSecretBoxes(masterKey);
const unique = () => randomBytes(4).toString('hex');

// Search and state filters with cursor pagination, on a real Postgres and on PGlite, as the application role.
describe.each(DATABASE_KINDS)('search on $name', ({ open }) => {
  let db: Db;
  let cleanup: () => Promise<void>;
  let tenantId = '';
  let otherTenant = '';
  const sources: string[] = [];
  const endpoints: string[] = [];
  const events: { id: string; type: string; source: string }[] = [];

  beforeAll(async () => {
    ({ db, cleanup } = await open());
    await createBackend({ db, masterKey }).migrate();
    const tenant = await createTenant(db, `s-${unique()}`);
    tenantId = tenant.id;
    for (const name of ['a', 'b']) {
      sources.push(
        (await createSource(db, boxes, { tenant: tenantId, provider: 'generic', name, secret: 'x' })).id,
      );
      endpoints.push(
        (await createEndpoint(db, boxes, { tenant: tenantId, url: `https://${name}.example/` })).endpoint.id,
      );
    }
    const types = ['order.created', 'order.paid', 'invoice.sent'];
    for (let i = 0; i < 12; i++) {
      const source = sources[i % 2] ?? '';
      const type = types[i % 3] ?? '';
      const rec = await recordEvent(db, { sourceId: source, type, data: new Uint8Array([i]) });
      events.push({ id: rec.event.id, type, source });
    }
    // Dead letters: every delivery of the invoice events to endpoint a, with a 410 as the last answer.
    await db.withTenant(tenantId, (tx) =>
      tx.query(
        `update core.deliveries d set state = 'dead', dead_at = now(), last_status_code = 410
           from core.events e where e.id = d.event_id and e.type = 'invoice.sent' and d.endpoint_id = $1`,
        [endpoints[0]],
      ),
    );
    const other = await createTenant(db, `s-${unique()}`);
    otherTenant = other.id;
    const os = await createSource(db, boxes, {
      tenant: other.id,
      provider: 'generic',
      name: 'o',
      secret: 'x',
    });
    await createEndpoint(db, boxes, { tenant: other.id, url: 'https://o.example/' });
    await recordEvent(db, { sourceId: os.id, type: 'invoice.sent', data: new Uint8Array([1]) });
  });
  afterAll(async () => {
    await db.close();
    await cleanup();
  });

  /** Every page of a search, following next cursors. */
  const everyPage = async <T>(search: (cursor: string) => Promise<{ items: T[]; nextCursor: string }>) => {
    const pages: T[][] = [];
    let cursor = '';
    do {
      const page = await search(cursor);
      pages.push(page.items);
      cursor = page.nextCursor;
    } while (cursor !== '' && pages.length < 50);
    return pages;
  };

  it('pages through events newest first without skipping or repeating one', async () => {
    const pages = await everyPage((cursor) => searchEvents(db, tenantId, { limit: 5, cursor }));
    expect(pages.map((p) => p.length)).toEqual([5, 5, 2]);
    expect(pages.flat().map((e) => e.id)).toEqual(events.map((e) => e.id).reverse());
  });

  it('filters events by source, type (exact or prefix.*) and time', async () => {
    const bySource = await searchEvents(db, tenantId, { sourceId: sources[1], limit: 100 });
    expect(bySource.items.map((e) => e.id).sort()).toEqual(
      events
        .filter((e) => e.source === sources[1])
        .map((e) => e.id)
        .sort(),
    );
    const orders = await searchEvents(db, tenantId, { type: 'order.*', limit: 100 });
    expect(orders.items).toHaveLength(8);
    expect((await searchEvents(db, tenantId, { type: 'order.paid' })).items).toHaveLength(4);
    expect((await searchEvents(db, tenantId, { since: new Date(Date.now() + 60_000) })).items).toEqual([]);
    expect((await searchEvents(db, tenantId, { until: new Date(Date.now() + 60_000) })).items).toHaveLength(
      12,
    );
  });

  it('lists the dead letters of one endpoint, by state, source, type and response code, page by page', async () => {
    const dead = await everyPage((cursor) =>
      searchDeliveries(db, tenantId, { state: 'dead', endpointId: endpoints[0], limit: 3, cursor }),
    );
    expect(dead.map((p) => p.length)).toEqual([3, 1]);
    expect(dead.flat().every((d) => d.state === 'dead' && d.lastStatusCode === 410)).toBe(true);
    expect(
      (await searchDeliveries(db, tenantId, { state: 'dead', statusCode: 410, limit: 100 })).items,
    ).toHaveLength(4);
    expect((await searchDeliveries(db, tenantId, { eventType: 'invoice.*', limit: 100 })).items).toHaveLength(
      8,
    );
    const fromB = await searchDeliveries(db, tenantId, {
      sourceId: sources[1],
      state: 'pending',
      limit: 100,
    });
    const fromBEvents = new Set(events.filter((e) => e.source === sources[1]).map((e) => e.id));
    expect(fromB.items.length).toBeGreaterThan(0);
    expect(fromB.items.every((d) => fromBEvents.has(d.eventId) && d.state === 'pending')).toBe(true);
    // Never attempted: no response code yet counts as 0.
    expect((await searchDeliveries(db, tenantId, { statusCode: 0, limit: 100 })).items).toHaveLength(20);
    const all = await everyPage((cursor) => searchDeliveries(db, tenantId, { limit: 7, cursor }));
    expect(new Set(all.flat().map((d) => d.id)).size).toBe(24);
  });

  it('shows nothing of another tenant', async () => {
    expect((await searchDeliveries(db, otherTenant, { state: 'dead' })).items).toEqual([]);
    expect((await searchEvents(db, otherTenant, { sourceId: sources[0] })).items).toEqual([]);
  });

  it.each([
    [{ cursor: 'not base64!' }, 'invalid_cursor'],
    [{ cursor: Buffer.from('{"t":1}').toString('base64url') }, 'invalid_cursor'],
    [{ cursor: encodeCursor({ t: "2026-01-01'; drop table x", id: 'x' }) }, 'invalid_cursor'],
    [{ state: 'buried' }, 'invalid_state'],
    [{ statusCode: 1000 }, 'invalid_status_code'],
    [{ eventType: 'ord*' }, 'invalid_event_type_pattern'],
  ])('refuses %j', async (query, reason) => {
    await expect(searchDeliveries(db, tenantId, query)).rejects.toMatchObject({
      code: 'ERR_INVALID_ARGUMENT',
      reason,
    });
  });
});
