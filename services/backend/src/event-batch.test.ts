import { randomBytes } from 'node:crypto';
import { type Db, migrate } from '@zenmesh/db';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEndpoint } from './endpoints.js';
import { createSourceTenants, recordEvents } from './event-batch.js';
import type { RecordEventResult } from './events.js';
import { createGroupCommit } from './group-commit.js';
import { CORE_MIGRATION_SCOPE, CORE_MIGRATIONS } from './migrations.js';
import { createSecretBoxes } from './secrets.js';
import { createSource } from './sources.js';
import { createTenant } from './tenants.js';
import { DATABASE_KINDS } from './test-support/databases.js';

const boxes = createSecretBoxes(randomBytes(32));
const data = new TextEncoder().encode('{"a":1}');
const unique = () => randomBytes(4).toString('hex');

describe('createGroupCommit', () => {
  it('runs a lone call at once and folds calls that arrive meanwhile into one batch', async () => {
    const batches: number[][] = [];
    let release: () => void = () => {};
    const gate = new Promise<void>((r) => {
      release = r;
    });
    const commit = createGroupCommit<number, number>({
      maxInFlight: 1,
      run: async (items) => {
        batches.push(items);
        if (batches.length === 1) await gate;
        return items.map((i) => i * 10);
      },
    });
    const first = commit(1);
    const rest = [2, 3, 4].map((i) => commit(i));
    release();
    expect(await Promise.all([first, ...rest])).toEqual([10, 20, 30, 40]);
    expect(batches).toEqual([[1], [2, 3, 4]]);
  });

  it('fails only the item that failed, and retries each item alone when the batch throws', async () => {
    const seen: number[][] = [];
    const commit = createGroupCommit<number, number>({
      maxInFlight: 1,
      run: async (items) => {
        seen.push(items);
        if (items.length > 1 && items.includes(3)) throw new Error('batch broke');
        return items.map((i) =>
          i === 2 ? new Error('two is bad') : i === 3 && items.length === 1 ? new Error('three') : i,
        );
      },
    });
    const block = commit(0);
    const outcomes = await Promise.allSettled([block, commit(1), commit(2), commit(3)]);
    expect(outcomes.map((o) => (o.status === 'fulfilled' ? o.value : (o.reason as Error).message))).toEqual([
      0,
      1,
      'two is bad',
      'three',
    ]);
    expect(seen).toEqual([[0], [1, 2, 3], [1], [2], [3]]);
  });
});

describe.each(DATABASE_KINDS)('recordEvents on $name', ({ open }) => {
  let db: Db;
  let cleanup: () => Promise<void>;
  beforeAll(async () => {
    ({ db, cleanup } = await open());
    await migrate(db, CORE_MIGRATIONS, { scope: CORE_MIGRATION_SCOPE });
  });
  afterAll(async () => {
    await db.close();
    await cleanup();
  });

  const setup = async () => {
    const tenant = await createTenant(db, `t-${unique()}`);
    const source = await createSource(db, boxes, {
      tenant: tenant.id,
      provider: 'generic',
      name: '',
      secret: 's',
    });
    const endpoint = await createEndpoint(db, boxes, { tenant: tenant.id, url: 'https://example.com/hook' });
    return { tenant, source, endpoint: endpoint.endpoint };
  };

  it('stores a batch across tenants, each event with its deliveries, and answers in order', async () => {
    const a = await setup();
    const b = await setup();
    const sources = createSourceTenants(db);
    const inputs = [a, b, a].map((t, i) => ({
      sourceId: t.source.id,
      type: 'push',
      data,
      providerDeliveryId: `d${i}`,
    }));
    const out = (await recordEvents(db, inputs, sources)) as RecordEventResult[];
    expect(out.map((r) => r.event.tenantId)).toEqual([a.tenant.id, b.tenant.id, a.tenant.id]);
    expect(out.map((r) => r.event.providerDeliveryId)).toEqual(['d0', 'd1', 'd2']);
    for (const r of out) {
      expect(r.duplicate).toBe(false);
      expect(r.deliveryIds).toHaveLength(1);
    }
    const stored = await db.withTenant(a.tenant.id, (tx) =>
      tx.query<{ n: number }>('select count(*)::int as n from core.deliveries where tenant_id = $1', [
        a.tenant.id,
      ]),
    );
    expect(stored.rows[0]?.n).toBe(2);
  });

  it('answers a repeated provider delivery id inside one batch with the first event, creating nothing', async () => {
    const { source } = await setup();
    const one = { sourceId: source.id, type: 'push', data, providerDeliveryId: `same-${unique()}` };
    const [first, second, third] = (await recordEvents(db, [
      one,
      one,
      { ...one, providerDeliveryId: '' },
    ])) as RecordEventResult[];
    // One of the two is stored (the statement picks which), the other answers with it.
    expect([first?.duplicate, second?.duplicate].sort()).toEqual([false, true]);
    expect(second?.event.id).toBe(first?.event.id);
    expect(first?.deliveryIds).toHaveLength(1);
    expect(second?.deliveryIds).toEqual(first?.deliveryIds);
    expect(third?.duplicate).toBe(false);
    expect(third?.event.id).not.toBe(first?.event.id);
    const again = (await recordEvents(db, [one]))[0] as RecordEventResult;
    expect(again).toMatchObject({ duplicate: true, event: { id: first?.event.id } });
  });

  it('fails an invalid or unknown-source item alone and stores the rest', async () => {
    const { source } = await setup();
    const out = await recordEvents(db, [
      { sourceId: source.id, type: 'push', data },
      { sourceId: source.id, type: '', data },
      { sourceId: 'src_aaaaaaaaaaaaaaaaaaaaaaaaaa', type: 'push', data },
      { sourceId: source.id, type: 'push', data, providerDeliveryId: 'x'.repeat(201) },
      { sourceId: source.id, type: 'push', data },
    ]);
    expect(out.map((o) => (o instanceof Error ? (o as { reason?: string }).reason : 'ok'))).toEqual([
      'ok',
      'invalid_event_type',
      'source_not_found',
      'invalid_provider_delivery_id',
      'ok',
    ]);
  });
});
