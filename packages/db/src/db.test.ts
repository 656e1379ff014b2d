import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDatabase } from './create-database.js';
import { isDbError } from './errors.js';
import { migrate } from './migrate.js';
import { createScratchDatabase, type ScratchDatabase } from './scratch-database.js';
import type { Db } from './types.js';

const ADMIN_URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

// The same behaviour suite runs on a real Postgres server and on embedded PGlite.
const backends: Array<{ name: string; open: () => Promise<{ db: Db; cleanup: () => Promise<void> }> }> = [
  {
    name: 'postgres',
    open: async () => {
      const scratch: ScratchDatabase = await createScratchDatabase(ADMIN_URL);
      const db = await createDatabase({ url: scratch.url });
      return { db, cleanup: scratch.drop };
    },
  },
  {
    name: 'pglite',
    open: async () => ({ db: await createDatabase(), cleanup: async () => {} }),
  },
];

describe.each(backends)('db on $name', ({ name, open }) => {
  let db: Db;
  let cleanup: () => Promise<void>;

  beforeAll(async () => {
    ({ db, cleanup } = await open());
    await db
      .exec(`
      create table items (id text primary key, tenant_id text not null, n int8, data bytea, tags text[]);
      create role zm_db_test_reader nologin;
    `)
      .catch(async (err) => {
        // Roles are cluster-wide: another run may have created it already.
        if (!String(err).includes('already exists')) throw err;
      });
    await db.exec(`
      create table if not exists items (id text primary key, tenant_id text not null, n int8, data bytea, tags text[]);
      alter table items enable row level security;
      alter table items force row level security;
      create policy items_tenant on items using (tenant_id = current_setting('app.tenant_id', true))
        with check (tenant_id = current_setting('app.tenant_id', true));
      grant select, insert on items to zm_db_test_reader;
    `);
  });

  afterAll(async () => {
    await db.close();
    await cleanup();
  });

  it('reports which driver it is', () => {
    expect(db.kind).toBe(name === 'postgres' ? 'pg' : 'pglite');
  });

  it('runs parameterised queries and returns the same shapes on both drivers', async () => {
    await db.query('insert into items (id, tenant_id, n, data, tags) values ($1, $2, $3, $4, $5)', [
      'a',
      'ten_a',
      42,
      Buffer.from([1, 2, 3]),
      ['x', 'y'],
    ]);
    const { rows, rowCount } = await db.query<{ n: number; data: Uint8Array; tags: string[] }>(
      'select n, data, tags from items where id = $1',
      ['a'],
    );
    expect(rowCount).toBe(1);
    expect(rows[0]?.n).toBe(42);
    expect(Buffer.from(rows[0]?.data ?? []).equals(Buffer.from([1, 2, 3]))).toBe(true);
    expect(rows[0]?.tags).toEqual(['x', 'y']);
    const updated = await db.query('update items set n = n + 1 where id = $1', ['a']);
    expect(updated.rowCount).toBe(1);
  });

  it('maps a unique violation to ERR_UNIQUE_VIOLATION with the constraint name', async () => {
    await db.query(`insert into items (id, tenant_id) values ('dup', 't')`);
    const err = await db
      .query(`insert into items (id, tenant_id) values ('dup', 't')`)
      .catch((e: unknown) => e);
    expect(isDbError(err, 'ERR_UNIQUE_VIOLATION')).toBe(true);
    expect(err).toMatchObject({ code: 'ERR_UNIQUE_VIOLATION', sqlState: '23505', constraint: 'items_pkey' });
  });

  it('maps other SQL errors to ERR_QUERY with the SQLSTATE', async () => {
    const err = await db.query('select * from no_such_table').catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'ERR_QUERY', sqlState: '42P01' });
  });

  it('commits a transaction and returns its value', async () => {
    const out = await db.transaction(async (tx) => {
      await tx.query(`insert into items (id, tenant_id) values ('tx1', 't')`);
      return 'ok';
    });
    expect(out).toBe('ok');
    expect((await db.query(`select 1 from items where id = 'tx1'`)).rowCount).toBe(1);
  });

  it('rolls back when the function throws, and rethrows the same error', async () => {
    const boom = new Error('boom');
    const err = await db
      .transaction(async (tx) => {
        await tx.query(`insert into items (id, tenant_id) values ('tx2', 't')`);
        throw boom;
      })
      .catch((e: unknown) => e);
    expect(err).toBe(boom);
    expect((await db.query(`select 1 from items where id = 'tx2'`)).rowCount).toBe(0);
  });

  it('refuses a transaction handle used after the transaction finished', async () => {
    const leaked = await db.transaction(async (tx) => tx);
    await expect(leaked.query('select 1')).rejects.toMatchObject({ code: 'ERR_TX_CLOSED' });
  });

  it('withTenant scopes app.tenant_id to the transaction only', async () => {
    const inside = await db.withTenant('ten_x', async (tx) => {
      const { rows } = await tx.query<{ v: string }>(`select current_setting('app.tenant_id', true) as v`);
      return rows[0]?.v;
    });
    expect(inside).toBe('ten_x');
    const { rows } = await db.query<{ v: string | null }>(
      `select current_setting('app.tenant_id', true) as v`,
    );
    expect(rows[0]?.v ?? '').toBe('');
  });

  it('withTenant refuses an empty tenant id', async () => {
    await expect(db.withTenant('', async () => 1)).rejects.toThrow(TypeError);
  });

  it('row-level security keyed on withTenant hides other tenants from a non-bypassing role', async () => {
    await db.query(`insert into items (id, tenant_id) values ('rls_a', 'ten_a'), ('rls_b', 'ten_b')`);
    const seen = await db.withTenant('ten_a', async (tx) => {
      await tx.exec('set local role zm_db_test_reader');
      return (await tx.query<{ id: string }>(`select id from items where id like 'rls_%' order by id`)).rows;
    });
    expect(seen).toEqual([{ id: 'rls_a' }]);
    const err = await db
      .withTenant('ten_a', async (tx) => {
        await tx.exec('set local role zm_db_test_reader');
        await tx.query(`insert into items (id, tenant_id) values ('rls_c', 'ten_b')`);
      })
      .catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'ERR_PERMISSION_DENIED', sqlState: '42501' });
  });

  it('assumeRole refuses a superuser role and a missing role with ERR_ROLE, and keeps the old role', async () => {
    await expect(db.assumeRole('postgres')).rejects.toMatchObject({
      code: 'ERR_ROLE',
      message: 'role postgres is a superuser or has BYPASSRLS; row-level security would not apply',
    });
    const missing = await db.assumeRole('zm_no_such_role').catch((e: unknown) => e);
    expect(isDbError(missing)).toBe(true);
    await expect(db.assumeRole('Bad-Name')).rejects.toThrow(TypeError);
    expect(db.role).toBeUndefined();
    const { rows } = await db.query<{ u: string }>('select current_user as u');
    expect(rows[0]?.u).toBe('postgres');
  });

  it('serialises concurrent transactions without interleaving or losing updates', async () => {
    await db.query(`insert into items (id, tenant_id, n) values ('counter', 't', 0)`);
    await Promise.all(
      Array.from({ length: 20 }, () =>
        db.transaction(async (tx) => {
          const { rows } = await tx.query<{ n: number }>(
            `select n from items where id = 'counter' for update`,
          );
          await tx.query(`update items set n = $1 where id = 'counter'`, [(rows[0]?.n ?? 0) + 1]);
        }),
      ),
    );
    const { rows } = await db.query<{ n: number }>(`select n from items where id = 'counter'`);
    expect(rows[0]?.n).toBe(20);
  });

  it('migrate applies each migration once, records it, and is idempotent', async () => {
    const migrations = [
      { id: '0001_one', sql: 'create schema m1; create table m1.a (x int);' },
      { id: '0002_two', sql: 'create table m1.b (y int);' },
    ];
    expect(await migrate(db, migrations, { scope: 'm1' })).toEqual(['0001_one', '0002_two']);
    expect(await migrate(db, migrations, { scope: 'm1' })).toEqual([]);
    const { rows } = await db.query<{ id: string }>(
      `select id from public.schema_migrations where scope = 'm1' order by id`,
    );
    expect(rows.map((r) => r.id)).toEqual(['0001_one', '0002_two']);
  });

  it('migrate applies each migration exactly once when several migrators race', async () => {
    const migrations = [
      {
        id: '0001_counter',
        sql: 'create schema m2; create table m2.runs (n int); insert into m2.runs values (1);',
      },
      { id: '0002_more', sql: 'insert into m2.runs values (2);' },
    ];
    const results = await Promise.all(
      Array.from({ length: 5 }, () => migrate(db, migrations, { scope: 'm2' })),
    );
    expect(results.flat().sort()).toEqual(['0001_counter', '0002_more']);
    const { rows } = await db.query<{ n: number }>('select n from m2.runs order by n');
    expect(rows).toEqual([{ n: 1 }, { n: 2 }]);
  });

  it('migrate refuses an applied migration whose text changed', async () => {
    await migrate(db, [{ id: '0001_x', sql: 'create table mx (x int);' }], { scope: 'mx' });
    await expect(
      migrate(db, [{ id: '0001_x', sql: 'create table mx (x bigint);' }], { scope: 'mx' }),
    ).rejects.toMatchObject({
      code: 'ERR_MIGRATION',
      message: 'migration mx/0001_x was changed after it was applied',
    });
  });

  it('migrate rolls back a failing migration and reports ERR_MIGRATION', async () => {
    const err = await migrate(
      db,
      [{ id: '0001_bad', sql: 'create table mbad (x int); select * from nope;' }],
      {
        scope: 'mbad',
      },
    ).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'ERR_MIGRATION' });
    expect((await db.query(`select to_regclass('public.mbad') as t`)).rows).toEqual([{ t: null }]);
  });

  it('assumeRole makes every later statement run under row-level security as that role', async () => {
    // Last in this suite on purpose: it switches this handle for good.
    await db.query(`insert into items (id, tenant_id) values ('ar_a', 'ten_a'), ('ar_b', 'ten_b')`);
    await db.assumeRole('zm_db_test_reader');
    expect(db.role).toBe('zm_db_test_reader');
    expect((await db.query(`select id from items where id like 'ar_%'`)).rows).toEqual([]);
    const seen = await db.withTenant('ten_b', async (tx) =>
      (await tx.query<{ id: string }>(`select id from items where id like 'ar_%'`)).rows.map((r) => r.id),
    );
    expect(seen).toEqual(['ar_b']);
    // RESET ROLE cannot climb back to the superuser the pool logged in as.
    const after = await db.transaction(async (tx) => {
      await tx.exec('reset role');
      return (await tx.query<{ u: string }>('select current_user as u')).rows[0]?.u;
    });
    expect(after).toBe(name === 'postgres' ? 'zm_db_test_reader' : 'postgres');
  });

  it('migrate refuses malformed or unordered migration ids', async () => {
    await expect(migrate(db, [{ id: 'init', sql: '' }])).rejects.toThrow('must look like 0001_name');
    await expect(
      migrate(db, [
        { id: '0002_b', sql: '' },
        { id: '0001_a', sql: '' },
      ]),
    ).rejects.toThrow('ascending order');
  });
});

describe('createDatabase', () => {
  it('fails at startup with ERR_CONNECTION when the server is unreachable', async () => {
    await expect(createDatabase({ url: 'postgres://postgres@127.0.0.1:1/none' })).rejects.toMatchObject({
      code: 'ERR_CONNECTION',
    });
  });

  it('refuses queries after close with ERR_CLOSED', async () => {
    const db = await createDatabase();
    await db.close();
    await expect(db.query('select 1')).rejects.toMatchObject({ code: 'ERR_CLOSED' });
  });
});

describe('migrate as an application role (deploy: a privileged step migrated first)', () => {
  let scratch: ScratchDatabase;
  beforeAll(async () => {
    scratch = await createScratchDatabase(ADMIN_URL);
  });
  afterAll(async () => {
    await scratch.drop();
  });

  it('confirms what was applied without CREATE on schema public, and refuses to apply anything new', async () => {
    const set = [{ id: '0001_priv', sql: 'create table mpriv (a int)' }];
    const admin = await createDatabase({ url: scratch.url });
    try {
      expect(await migrate(admin, set, { scope: 'privileged' })).toEqual(['0001_priv']);
      await admin
        .exec('create role zm_db_test_migrate_reader login nosuperuser nobypassrls')
        .catch((err: unknown) => {
          if (!String(err).includes('already exists')) throw err;
        });
      await admin.exec('grant select on public.schema_migrations to zm_db_test_migrate_reader');
    } finally {
      await admin.close();
    }
    const app = await createDatabase({ url: scratch.url, role: 'zm_db_test_migrate_reader' });
    try {
      // The role cannot create tables in public (PostgreSQL 15+), not even `create table if not exists`.
      await expect(app.exec('create table if not exists public.other (a int)')).rejects.toThrow(
        /permission denied for schema public/,
      );
      expect(await migrate(app, set, { scope: 'privileged' })).toEqual([]);
      await expect(
        migrate(app, [...set, { id: '0002_more', sql: 'create table mmore (a int)' }], {
          scope: 'privileged',
        }),
      ).rejects.toMatchObject({ code: 'ERR_MIGRATION' });
    } finally {
      await app.close();
    }
  });
});
