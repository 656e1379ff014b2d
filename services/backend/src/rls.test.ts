import { randomBytes } from 'node:crypto';
import { type Db, isDbError } from '@zenmesh/db';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { appendAudit } from './audit.js';
import { createBackend } from './backend.js';
import { createConnection } from './connections.js';
import { APP_ROLE } from './db-roles.js';
import { leaseDeliveries } from './delivery-lease.js';
import { reportAttempt } from './delivery-report.js';
import { createEndpoint } from './endpoints.js';
import { recordEvent } from './event-batch.js';
import { createSecretBoxes } from './secrets.js';
import { createSource } from './sources.js';
import { createTenant } from './tenants.js';
import { DATABASE_KINDS } from './test-support/databases.js';

// "With tenant A's context, tenant B's rows are invisible and unwritable through every table and
// query path, even with a hand-written SQL query as the application role." Proven here on a real
// Postgres and on PGlite, with the backend's own database handle after migrate() (role zenmesh_app).
const masterKey = randomBytes(32);
const boxes = createSecretBoxes(masterKey);

const TABLES = [
  'tenants',
  'sources',
  'endpoints',
  'events',
  'deliveries',
  'attempts',
  'connections',
  'audit',
  'audit_heads',
];
// tenants is keyed on id, every other table on tenant_id.
const tenantColumn = (table: string) => (table === 'tenants' ? 'id' : 'tenant_id');

interface Seeded {
  tenantId: string;
  sourceId: string;
  endpointId: string;
  eventId: string;
  deliveryId: string;
}

const backends = DATABASE_KINDS;

describe.each(backends)('row-level security on $name, as the application role', ({ name, open }) => {
  let db: Db;
  let cleanup: () => Promise<void>;
  let a: Seeded;
  let b: Seeded;

  const seed = async (): Promise<Seeded> => {
    const tenant = await createTenant(db, `rls-${randomBytes(4).toString('hex')}`);
    const source = await createSource(db, boxes, {
      tenant: tenant.id,
      provider: 'generic',
      name: 's',
      secret: 'x',
    });
    const { endpoint } = await createEndpoint(db, boxes, {
      tenant: tenant.id,
      url: 'https://a.example/hook',
    });
    // A connection too (created before the event, so the event is routed through it).
    await createConnection(db, { tenant: tenant.id, sourceId: source.id, endpointId: endpoint.id });
    const rec = await recordEvent(db, { sourceId: source.id, type: 't', data: new Uint8Array([1]) });
    const deliveryId = rec.deliveryIds[0] ?? '';
    const [leased] = await leaseDeliveries(db, boxes, { eventId: rec.event.id });
    await reportAttempt(db, { deliveryId, leaseToken: leased?.leaseToken ?? '', statusCode: 500 });
    return {
      tenantId: tenant.id,
      sourceId: source.id,
      endpointId: endpoint.id,
      eventId: rec.event.id,
      deliveryId,
    };
  };

  beforeAll(async () => {
    ({ db, cleanup } = await open());
    await createBackend({ db, masterKey }).migrate();
    a = await seed();
    b = await seed();
  });
  afterAll(async () => {
    await db.close();
    await cleanup();
  });

  /** Runs fn in tenant A's scope and returns what it returned, or the DbError code it threw. */
  const asA = <T>(fn: (tx: Parameters<Parameters<Db['withTenant']>[1]>[0]) => Promise<T>) =>
    db.withTenant(a.tenantId, fn).catch((err: unknown) => {
      if (isDbError(err)) return { refused: err.code, sqlState: err.sqlState };
      throw err;
    });

  it('runs as zenmesh_app: not a superuser, no BYPASSRLS', async () => {
    expect(db.role).toBe(APP_ROLE);
    const { rows } = await db.query<{ u: string; su: boolean; bypass: boolean }>(
      'select current_user as u, rolsuper as su, rolbypassrls as bypass from pg_roles where rolname = current_user',
    );
    expect(rows).toEqual([{ u: APP_ROLE, su: false, bypass: false }]);
  });

  it.each(TABLES)('core.%s: A sees only its own rows, none of B', async (table) => {
    const col = tenantColumn(table);
    const seen = await asA(async (tx) => {
      const all = await tx.query<{ t: string }>(`select distinct ${col} as t from core.${table}`);
      const aimed = await tx.query(`select * from core.${table} where ${col} = $1`, [b.tenantId]);
      return { tenants: all.rows.map((r) => r.t), aimedAtB: aimed.rowCount };
    });
    expect(seen).toEqual({ tenants: [a.tenantId], aimedAtB: 0 });
  });

  it.each(TABLES)('core.%s: with no tenant scope at all, nothing is visible', async (table) => {
    expect((await db.query(`select 1 from core.${table}`)).rowCount).toBe(0);
  });

  it.each(TABLES.filter((t) => !['tenants', 'events', 'attempts', 'audit'].includes(t)))(
    "core.%s: A's UPDATE aimed at B's rows changes nothing",
    async (table) => {
      const col = tenantColumn(table);
      const setter = {
        sources: 'name',
        endpoints: 'url',
        deliveries: 'last_error',
        connections: 'filter',
        audit_heads: 'hash',
      }[table];
      const changed = await asA(
        async (tx) =>
          (await tx.query(`update core.${table} set ${setter} = 'pwned' where ${col} = $1`, [b.tenantId]))
            .rowCount,
      );
      expect(changed).toBe(0);
    },
  );

  it("A cannot move its own row into B (UPDATE's WITH CHECK refuses)", async () => {
    const out = await asA((tx) =>
      tx.query('update core.endpoints set tenant_id = $1 where id = $2', [b.tenantId, a.endpointId]),
    );
    expect(out).toEqual({ refused: 'ERR_PERMISSION_DENIED', sqlState: '42501' });
  });

  it.each([
    [
      'tenants',
      `insert into core.tenants (id, name) values ($1, 'evil-' || substr(md5(random()::text), 1, 8))`,
    ],
    [
      'sources',
      `insert into core.sources (id, tenant_id, provider, name, secret_sealed) values ('src_evil', $1, 'generic', 'e', 'x')`,
    ],
    [
      'endpoints',
      `insert into core.endpoints (id, tenant_id, url, secret_sealed) values ('ep_evil', $1, 'https://e', 'x')`,
    ],
    [
      'connections',
      `insert into core.connections (id, tenant_id, source_id, endpoint_id) values ('con_evil', $1, 'src_x', 'ep_x')`,
    ],
    [
      'audit_heads',
      `insert into core.audit_heads (tenant_id, seq, hash) values ($1, 99, 'x') on conflict do nothing`,
    ],
  ])("core.%s: A's INSERT of a row for B is refused (42501)", async (_table, sql) => {
    expect(await asA((tx) => tx.query(sql, [b.tenantId]))).toEqual({
      refused: 'ERR_PERMISSION_DENIED',
      sqlState: '42501',
    });
  });

  it("A's INSERT of an event, delivery, attempt or audit row for B is refused", async () => {
    const sqls = [
      [
        `insert into core.events (id, tenant_id, source_id, source, type, time, datacontenttype, data) values ('evt_evil', $1, $2, '/x', 't', now(), 'x', '\\x00')`,
        [b.tenantId, b.sourceId],
      ],
      [
        `insert into core.deliveries (id, tenant_id, event_id, endpoint_id) values ('dlv_evil', $1, $2, $3)`,
        [b.tenantId, b.eventId, b.endpointId],
      ],
      [
        `insert into core.attempts (id, tenant_id, delivery_id, attempt, status_code) values ('att_evil', $1, $2, 99, 200)`,
        [b.tenantId, b.deliveryId],
      ],
      [
        `insert into core.audit (id, tenant_id, seq, at, actor, action, target, prev_hash, hash) values ('aud_evil', $1, 99, now(), 'x', 'x', 'x', 'x', 'x')`,
        [b.tenantId],
      ],
    ] as const;
    for (const [sql, params] of sqls) {
      expect(await asA((tx) => tx.query(sql, params))).toEqual({
        refused: 'ERR_PERMISSION_DENIED',
        sqlState: '42501',
      });
    }
  });

  it.each(TABLES)('core.%s: DELETE is not granted at all, not even on own rows', async (table) => {
    const col = tenantColumn(table);
    expect(await asA((tx) => tx.query(`delete from core.${table} where ${col} = $1`, [a.tenantId]))).toEqual({
      refused: 'ERR_PERMISSION_DENIED',
      sqlState: '42501',
    });
  });

  it('the audit log is insert-only for the application role: UPDATE is refused even on own rows', async () => {
    expect(
      await asA((tx) => tx.query(`update core.audit set actor = 'x' where tenant_id = $1`, [a.tenantId])),
    ).toEqual({
      refused: 'ERR_PERMISSION_DENIED',
      sqlState: '42501',
    });
  });

  it('the SECURITY DEFINER functions stay inside the scope: in A, B does not exist', async () => {
    const out = await asA(async (tx) => ({
      findB: (await tx.query('select id from core.find_tenant($1)', [b.tenantId])).rowCount,
      list: (await tx.query<{ id: string }>('select id from core.list_tenants()')).rows.map((r) => r.id),
      sourceB: (await tx.query('select id from core.resolve_source($1)', [b.sourceId])).rowCount,
      deliveryB: (
        await tx.query<{ t: string | null }>('select core.delivery_tenant($1) as t', [b.deliveryId])
      ).rows[0]?.t,
      findA: (await tx.query('select id from core.find_tenant($1)', [a.tenantId])).rowCount,
    }));
    expect(out).toEqual({ findB: 0, list: [a.tenantId], sourceB: 0, deliveryB: null, findA: 1 });
  });

  it("lease_deliveries called in A's scope leases none of B's deliveries", async () => {
    await db.withTenant(a.tenantId, async (tx) => {
      // Make both tenants' deliveries due (each in its own scope, as the app role).
      await tx.query(
        `update core.deliveries set next_attempt_at = now() - interval '1 hour' where tenant_id = $1`,
        [a.tenantId],
      );
    });
    await db.withTenant(b.tenantId, (tx) =>
      tx.query(
        `update core.deliveries set next_attempt_at = now() - interval '1 hour' where tenant_id = $1`,
        [b.tenantId],
      ),
    );
    const leased = await asA(async (tx) =>
      (
        await tx.query<{ tenant_id: string }>(
          'select tenant_id from core.lease_deliveries(100, 1000, null, null)',
        )
      ).rows.map((r) => r.tenant_id),
    );
    expect(leased).toEqual([a.tenantId]);
  });

  it('cannot climb out of the role with SET ROLE', async () => {
    const out = await asA(async (tx) => {
      await tx.exec('set local role zenmesh_owner');
      return 'escaped';
    });
    if (name === 'postgres') expect(out).toEqual({ refused: 'ERR_PERMISSION_DENIED', sqlState: '42501' });
    // PGlite has a single, superuser session: a SET ROLE there is a matter of the embedding process.
    else expect(out).toBe('escaped');
  });

  it('appendAudit cannot write into another tenant chain from A', async () => {
    const out = await asA((tx) =>
      appendAudit(tx, b.tenantId, { actor: 'x' }, { action: 'x', target: 'x', before: null, after: null }),
    );
    expect(out).toEqual({ refused: 'ERR_PERMISSION_DENIED', sqlState: '42501' });
  });
});
