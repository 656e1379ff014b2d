import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDatabase } from './create-database.js';
import { createScratchDatabase, type ScratchDatabase } from './scratch-database.js';
import { prepared } from './statement.js';
import type { Db } from './types.js';

const ADMIN_URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const ROLE = 'zm_db_pool_reader';

const ITEMS_OF = prepared('zm_test_items_of', `select id from pool_items where id like $1 order by id`);
const PREPARED_HERE = prepared(
  'zm_test_prepared_here',
  `select name from pg_prepared_statements where name = $1`,
);

// Postgres only: PGlite has one connection and no server-side statement cache.
describe('pg driver: named statements, tenant scope in one round trip, idle connections', () => {
  let scratch: ScratchDatabase;
  let owner: Db;

  beforeAll(async () => {
    scratch = await createScratchDatabase(ADMIN_URL);
    owner = await createDatabase({ url: scratch.url });
    await owner.exec(`create role ${ROLE} nologin`).catch((err: unknown) => {
      // Roles are cluster-wide: another run may have created it already.
      if (!String(err).includes('already exists')) throw err;
    });
    await owner.exec(`
      create table pool_items (id text primary key, tenant_id text not null);
      alter table pool_items enable row level security;
      alter table pool_items force row level security;
      create policy pool_items_tenant on pool_items using (tenant_id = current_setting('app.tenant_id', true));
      grant select on pool_items to ${ROLE};
      insert into pool_items values ('p_a1', 'ten_a'), ('p_a2', 'ten_a'), ('p_b1', 'ten_b');
    `);
  });

  afterAll(async () => {
    await owner?.close();
    await scratch?.drop();
  });

  it('a named statement answers what its text answers, per tenant, under row-level security', async () => {
    // One connection, so the second tenant's call reuses the statement the first one prepared.
    const db = await createDatabase({ url: scratch.url, max: 1, role: ROLE });
    try {
      for (const tenant of ['ten_a', 'ten_b', 'ten_a']) {
        const [named, plain, isPrepared] = await db.withTenant(tenant, async (tx) => [
          (await tx.query<{ id: string }>(ITEMS_OF, ['p_%'])).rows,
          (await tx.query<{ id: string }>(ITEMS_OF.text, ['p_%'])).rows,
          (await tx.query(PREPARED_HERE, [ITEMS_OF.name])).rowCount,
        ]);
        expect(named).toEqual(plain);
        expect(named.length).toBeGreaterThan(0);
        expect(isPrepared).toBe(1);
      }
      expect((await db.withTenant('ten_b', (tx) => tx.query(ITEMS_OF, ['p_%']))).rows).toEqual([
        { id: 'p_b1' },
      ]);
      // Outside any tenant scope the same prepared statement sees nothing.
      expect((await db.query(ITEMS_OF, ['p_%'])).rows).toEqual([]);
    } finally {
      await db.close();
    }
  });

  it('refuses a statement name reused for another text, and a malformed name', () => {
    expect(prepared(ITEMS_OF.name, ITEMS_OF.text)).toEqual(ITEMS_OF);
    expect(() => prepared(ITEMS_OF.name, 'select 1')).toThrow(/different text/);
    expect(() => prepared('Bad-Name', 'select 1')).toThrow(/bad statement name/);
  });

  it('keeps a tenant id that looks like SQL as one literal value (begin and scope in one script)', async () => {
    const hostile = `ten_x', true); select set_config('app.tenant_id', 'ten_b', true); --\\'`;
    const seen = await owner.withTenant(hostile, async (tx) => {
      const { rows } = await tx.query<{ v: string }>(`select current_setting('app.tenant_id', true) as v`);
      return rows[0]?.v;
    });
    expect(seen).toBe(hostile);
    await expect(owner.withTenant('ten_a\0', async () => 1)).rejects.toThrow(TypeError);
    // Nothing was left open or scoped by the refused call.
    expect(
      (await owner.query<{ v: string | null }>(`select current_setting('app.tenant_id', true) as v`)).rows[0]
        ?.v ?? '',
    ).toBe('');
  });

  it('keeps the connections a burst opened through a steady trickle longer than pg’s 10 s default', async () => {
    const db = await createDatabase({ url: scratch.url, max: 4 });
    const burst = async () =>
      new Set(
        (
          await Promise.all(
            Array.from({ length: 4 }, () =>
              db.query<{ pid: number }>('select pg_backend_pid() as pid, pg_sleep(0.2)'),
            ),
          )
        ).map((r) => r.rows[0]?.pid),
      );
    try {
      const first = await burst();
      expect(first.size).toBe(4);
      // One query at a time for 11 s: the pool hands out its most recently used connection, so the
      // other three sit idle all along.
      const until = Date.now() + 11_000;
      while (Date.now() < until) {
        await db.query('select 1');
        await new Promise((r) => setTimeout(r, 100));
      }
      const second = await burst();
      expect([...second].sort()).toEqual([...first].sort());
    } finally {
      await db.close();
    }
  }, 60_000);
});
