import { createPgDb } from './pg-driver.js';
import { createPgliteDb } from './pglite-driver.js';
import type { Db, DbLogger } from './types.js';

export interface DatabaseOptions {
  /** postgres:// URL: a real server through a `pg` pool. */
  url?: string | undefined;
  /** Embedded PGlite persisted in this directory (used when `url` is absent). */
  dataDir?: string | undefined;
  /** Pool size for `url`; default 10. */
  max?: number;
  /** Statement timeout for `url`, in ms; default 30 000. */
  statementTimeoutMs?: number;
  /** Idle connection timeout for `url`, in ms; default 300 000 (see PgOptions.idleTimeoutMs). */
  idleTimeoutMs?: number;
  /** Run every statement as this role (must exist, not superuser, no BYPASSRLS); see `Db.assumeRole`. */
  role?: string | undefined;
  logger?: DbLogger;
}

/**
 * One interface over both backends: a Postgres server when `url` is given, otherwise embedded
 * PGlite (persisted in `dataDir`, or in memory when neither is given — tests and demos).
 */
export async function createDatabase(options: DatabaseOptions = {}): Promise<Db> {
  if (options.url !== undefined && options.url !== '') {
    const db = createPgDb({
      url: options.url,
      ...(options.max === undefined ? {} : { max: options.max }),
      ...(options.statementTimeoutMs === undefined ? {} : { statementTimeoutMs: options.statementTimeoutMs }),
      ...(options.idleTimeoutMs === undefined ? {} : { idleTimeoutMs: options.idleTimeoutMs }),
      ...(options.logger === undefined ? {} : { logger: options.logger }),
    });
    // Fail at startup, not on the first request, when the server is unreachable.
    try {
      await db.query('select 1');
      if (options.role !== undefined) await db.assumeRole(options.role);
    } catch (err) {
      await db.close();
      throw err;
    }
    options.logger?.info({ kind: 'pg' }, 'database connected');
    return db;
  }
  const db = await createPgliteDb(options.dataDir === undefined ? {} : { dataDir: options.dataDir });
  if (options.role !== undefined) {
    try {
      await db.assumeRole(options.role);
    } catch (err) {
      await db.close();
      throw err;
    }
  }
  options.logger?.info(
    { kind: 'pglite', persisted: options.dataDir !== undefined },
    'embedded database opened',
  );
  return db;
}
