import { CORE_MIGRATION_SCOPE, CORE_MIGRATIONS, OWNER_ROLE } from '@zenmesh/backend';
import { createDatabase, type Db, migrate } from '@zenmesh/db';
import { TOKEN_MIGRATIONS, TOKEN_SCHEMA } from '@zenmesh/token';
import { CliError } from '../errors.js';
import { DB_ROLES } from './compose-bootstrap.js';

export interface DatabaseSetupOptions {
  /** postgres:// URL of a role that may create roles and schemas (the server's superuser in compose). */
  adminUrl: string;
  /** Passwords the two login roles get (from files; never logged). */
  passwords: { backend: string; token: string };
  progress?: (text: string) => void;
}

export interface DatabaseSetupResult {
  applied: { core: string[]; token: string[] };
  roles: string[];
}

/** Cluster-wide role DDL can collide with another database's migrator; it is retried a few times. */
async function retrying<T>(fn: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      if (attempt >= 5 || !/tuple concurrently updated|already exists/.test(String(err))) throw err;
      await new Promise((r) => setTimeout(r, 100 * attempt));
    }
  }
}

const sqlLiteral = async (db: Db, value: string): Promise<string> =>
  (await db.query<{ q: string }>('select quote_literal($1::text) as q', [value])).rows[0]?.q ?? "''";

/**
 * The privileged half of the database, run once per deployment (and again on every upgrade) before any
 * service starts: the `core` and `token` migrations as a role that may create roles and schemas, then the
 * two login roles the services connect as, neither superuser nor BYPASSRLS:
 * - `zenmesh_app` (made by core migration 0002) gets its password; row-level security binds every statement
 *   the backend runs;
 * - `zenmesh_token` gets exactly the table privileges of schema `token`.
 * Both may read `public.schema_migrations`, so their own start-up check confirms every migration is applied
 * without being able to apply (or create) anything.
 */
export async function setupDatabase(o: DatabaseSetupOptions): Promise<DatabaseSetupResult> {
  const db = await createDatabase({ url: o.adminUrl });
  try {
    const { rows } = await db.query<{ super: boolean }>(
      'select rolsuper as super from pg_catalog.pg_roles where rolname = current_user',
    );
    if (!rows[0]?.super) {
      throw new CliError(
        'ERR_STATE',
        'the database setup must connect as a superuser: migration 0002 creates the BYPASSRLS owner role',
      );
    }
    o.progress?.('Applying core migrations');
    const core = await migrate(db, CORE_MIGRATIONS, { scope: CORE_MIGRATION_SCOPE });
    o.progress?.('Applying token migrations');
    const token = await migrate(db, TOKEN_MIGRATIONS, { scope: TOKEN_SCHEMA });
    const app = DB_ROLES.backend;
    const tok = DB_ROLES.token;
    await retrying(() =>
      db.exec(`do $$ begin
        if not exists (select 1 from pg_catalog.pg_roles where rolname = '${tok}') then
          create role ${tok} login nosuperuser nobypassrls nocreatedb nocreaterole;
        end if;
      end $$`),
    );
    // Passwords go through quote_literal: ALTER ROLE takes no bind parameters.
    await retrying(async () =>
      db.exec(`alter role ${app} with login password ${await sqlLiteral(db, o.passwords.backend)}`),
    );
    await retrying(async () =>
      db.exec(
        `alter role ${tok} with login nosuperuser nobypassrls password ${await sqlLiteral(db, o.passwords.token)}`,
      ),
    );
    await db.exec(`
      grant select on public.schema_migrations to ${app}, ${tok};
      grant usage on schema ${TOKEN_SCHEMA} to ${tok};
      grant select, insert, update, delete on all tables in schema ${TOKEN_SCHEMA} to ${tok};
      grant usage, select on all sequences in schema ${TOKEN_SCHEMA} to ${tok};
    `);
    // The same refusal the backend makes at start-up, here before anything runs.
    const bad = await db.query<{ rolname: string }>(
      'select rolname from pg_catalog.pg_roles where rolname = any($1) and (rolsuper or rolbypassrls)',
      [[app, tok]],
    );
    if (bad.rows.length > 0) {
      throw new CliError(
        'ERR_STATE',
        `role ${bad.rows.map((r) => r.rolname).join(', ')} is a superuser or has BYPASSRLS; row-level security would not apply`,
      );
    }
    return { applied: { core, token }, roles: [app, tok, OWNER_ROLE] };
  } finally {
    await db.close();
  }
}
