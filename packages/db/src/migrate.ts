import { createHash } from 'node:crypto';
import { DbError } from './errors.js';
import type { Db, DbLogger, Tx } from './types.js';

export interface Migration {
  /** Sortable and stable, e.g. `0001_init`. Never rename or edit one that has shipped. */
  id: string;
  sql: string;
}

export interface MigrateOptions {
  /** Names the migration set (one per schema owner, e.g. `core`), so services can share a database. */
  scope?: string;
  logger?: DbLogger;
}

// One cluster-wide key: every migrator of every scope queues on it, which also serialises the
// `create table if not exists schema_migrations` that would otherwise race on a fresh database.
const MIGRATION_LOCK_KEY = 0x7a6d6967; // "zmig"

const checksum = (sql: string): string => createHash('sha256').update(sql).digest('hex');

const ID_PATTERN = /^[0-9]{4}_[a-z0-9_]+$/;

function validate(migrations: readonly Migration[]): void {
  const seen = new Set<string>();
  let previous = '';
  for (const m of migrations) {
    if (!ID_PATTERN.test(m.id))
      throw new TypeError(`migration id ${JSON.stringify(m.id)} must look like 0001_name`);
    if (seen.has(m.id)) throw new TypeError(`migration id ${m.id} appears twice`);
    if (m.id <= previous)
      throw new TypeError(`migrations must be in ascending order: ${m.id} after ${previous}`);
    seen.add(m.id);
    previous = m.id;
  }
}

async function lockAndEnsureTable(tx: Tx): Promise<void> {
  // Transaction-scoped advisory lock: released by COMMIT/ROLLBACK, so a crashed migrator can never
  // leave it held, and no session has to be pinned outside a transaction.
  await tx.query('select pg_advisory_xact_lock($1)', [MIGRATION_LOCK_KEY]);
  // Created only when missing: even `create table if not exists` needs CREATE on schema public, which an
  // application role started after a privileged migration step (deploy/compose, the Helm chart) lacks; it
  // still reads the table to confirm every migration is applied.
  const { rows } = await tx.query<{ t: string | null }>(
    `select to_regclass('public.schema_migrations')::text as t`,
  );
  if (rows[0]?.t != null) return;
  await tx.exec(`create table public.schema_migrations (
    scope text not null,
    id text not null,
    checksum text not null,
    applied_at timestamptz not null default now(),
    primary key (scope, id)
  )`);
}

/**
 * Applies, in order, the migrations of `scope` not yet recorded in `schema_migrations`, each in its
 * own transaction under an advisory lock, so two processes starting together apply each one once.
 * Refuses (ERR_MIGRATION) when an applied migration's text has changed since. Returns the ids applied.
 */
export async function migrate(
  db: Db,
  migrations: readonly Migration[],
  options: MigrateOptions = {},
): Promise<string[]> {
  validate(migrations);
  const scope = options.scope ?? 'default';
  const applied: string[] = [];
  for (const migration of migrations) {
    const done = await db.transaction(async (tx) => {
      await lockAndEnsureTable(tx);
      const { rows } = await tx.query<{ checksum: string }>(
        'select checksum from public.schema_migrations where scope = $1 and id = $2',
        [scope, migration.id],
      );
      const sum = checksum(migration.sql);
      const existing = rows[0];
      if (existing !== undefined) {
        if (existing.checksum !== sum) {
          throw new DbError(
            'ERR_MIGRATION',
            `migration ${scope}/${migration.id} was changed after it was applied`,
          );
        }
        return false;
      }
      try {
        await tx.exec(migration.sql);
      } catch (err) {
        throw new DbError(
          'ERR_MIGRATION',
          `migration ${scope}/${migration.id} failed: ${(err as Error).message}`,
          {
            cause: err,
          },
        );
      }
      await tx.query('insert into public.schema_migrations (scope, id, checksum) values ($1, $2, $3)', [
        scope,
        migration.id,
        sum,
      ]);
      return true;
    });
    if (done) {
      applied.push(migration.id);
      options.logger?.info({ scope, migration: migration.id }, 'migration applied');
    }
  }
  return applied;
}
