import pg from 'pg';
import { DbError, toDbError } from './errors.js';
import { enterTenantScope, guardTx } from './tenant-scope.js';
import type { Db, DbLogger, QueryResult, Tx } from './types.js';

export interface PgOptions {
  url: string;
  /** Pool size; default 10. */
  max?: number;
  /** Server-side statement timeout in ms; default 30 000. */
  statementTimeoutMs?: number;
  logger?: DbLogger;
}

const INT8_OID = 20;

// int8 comes back as a number, as PGlite does, so both drivers hand callers the same shapes.
// Values above 2^53 would lose precision: the schemas here keep int8 for counts only.
const types = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    oid === INT8_OID && format !== 'binary'
      ? (value: string) => Number(value)
      : pg.types.getTypeParser(oid, format ?? 'text')) as typeof pg.types.getTypeParser,
};

type PgRunner = { query: (sql: string, params?: unknown[]) => Promise<pg.QueryResult> };

const run = async <T>(
  runner: PgRunner,
  sql: string,
  params: readonly unknown[] | undefined,
): Promise<QueryResult<T>> => {
  try {
    const out = await runner.query(sql, params === undefined ? undefined : [...params]);
    // A multi-statement script (simple protocol) yields one result per statement: report the last.
    const res = (Array.isArray(out) ? out.at(-1) : out) as pg.QueryResult | undefined;
    if (res === undefined) return { rows: [], rowCount: 0 };
    return { rows: res.rows as T[], rowCount: res.rowCount ?? res.rows.length };
  } catch (err) {
    throw toDbError(err);
  }
};

export function createPgDb(options: PgOptions): Db {
  const pool = new pg.Pool({
    connectionString: options.url,
    max: options.max ?? 10,
    statement_timeout: options.statementTimeoutMs ?? 30_000,
    // A transaction left open by a crashed handler must not pin a connection and its locks forever.
    idle_in_transaction_session_timeout: 60_000,
    connectionTimeoutMillis: 10_000,
    types,
  });
  // Without a listener an idle client's network error would crash the process.
  pool.on('error', (err) => options.logger?.error({ err: err.message }, 'idle database connection failed'));
  let closed = false;

  const ensureOpen = (): void => {
    if (closed) throw new DbError('ERR_CLOSED', 'database is closed');
  };

  const transaction = async <T>(fn: (tx: Tx) => Promise<T>, tenantId?: string): Promise<T> => {
    ensureOpen();
    let client: pg.PoolClient;
    try {
      client = await pool.connect();
    } catch (err) {
      throw toDbError(err);
    }
    let open = true;
    const raw: Tx = {
      query: <R>(sql: string, params?: readonly unknown[]) => run<R>(client, sql, params),
      exec: async (sql) => {
        await run(client, sql, undefined);
      },
    };
    const tx = guardTx(
      raw,
      () => open,
      () => new DbError('ERR_TX_CLOSED', 'transaction already finished'),
    );
    let releaseError: Error | undefined;
    try {
      await raw.exec('begin');
      if (tenantId !== undefined) await enterTenantScope(raw, tenantId);
      const result = await fn(tx);
      await raw.exec('commit');
      return result;
    } catch (err) {
      try {
        await client.query('rollback');
      } catch (rollbackErr) {
        // The connection is in an unknown state: destroy it rather than return it to the pool.
        releaseError = rollbackErr as Error;
      }
      throw err;
    } finally {
      open = false;
      client.release(releaseError);
    }
  };

  return {
    kind: 'pg',
    query: async <T>(sql: string, params?: readonly unknown[]) => {
      ensureOpen();
      return run<T>(pool, sql, params);
    },
    exec: async (sql) => {
      ensureOpen();
      await run(pool, sql, undefined);
    },
    transaction: (fn) => transaction(fn),
    withTenant: (tenantId, fn) => {
      if (typeof tenantId !== 'string' || tenantId.length === 0) {
        return Promise.reject(new TypeError('withTenant: tenantId must be a non-empty string'));
      }
      return transaction(fn, tenantId);
    },
    close: async () => {
      if (closed) return;
      closed = true;
      await pool.end();
    },
  };
}
