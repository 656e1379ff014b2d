import pg from 'pg';
import { DbError, toDbError } from './errors.js';
import { checkRoleName, verifyRole } from './role.js';
import { checkTenantId, guardTx, scopedTransactions } from './tenant-scope.js';
import type { Db, DbLogger, QueryResult, Sql, Tx } from './types.js';

export interface PgOptions {
  url: string;
  /** Pool size; default 10. */
  max?: number;
  /** Server-side statement timeout in ms; default 30 000. */
  statementTimeoutMs?: number;
  /**
   * How long an unused pooled connection is kept before it is closed; default 300 000 (5 min).
   * pg's own default (10 s) closes the connections a burst opened as soon as the load steadies
   * below the pool size, and the next burst pays the connect, the auth and re-preparing the named
   * statements again. 0 keeps idle connections until the pool ends.
   */
  idleTimeoutMs?: number;
  /** Every connection runs as this role (startup option `-c role=...`, so even RESET ROLE keeps it). */
  role?: string;
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

type PgRunner = { query: (config: pg.QueryConfig) => Promise<pg.QueryResult> };

const run = async <T>(
  runner: PgRunner,
  sql: Sql,
  params: readonly unknown[] | undefined,
): Promise<QueryResult<T>> => {
  try {
    const values = params === undefined ? undefined : [...params];
    // A named statement is parsed and planned once per connection (pg keeps which it prepared).
    const config: pg.QueryConfig =
      typeof sql === 'string'
        ? { text: sql, ...(values === undefined ? {} : { values }) }
        : { name: sql.name, text: sql.text, values: values ?? [] };
    const out = await runner.query(config);
    // A multi-statement script (simple protocol) yields one result per statement: report the last.
    const res = (Array.isArray(out) ? out.at(-1) : out) as pg.QueryResult | undefined;
    if (res === undefined) return { rows: [], rowCount: 0 };
    return { rows: res.rows as T[], rowCount: res.rowCount ?? res.rows.length };
  } catch (err) {
    throw toDbError(err);
  }
};

/** The URL with `role` as the login user and no password (trust, peer or certificate setups). */
function loginUrl(url: string, role: string): string {
  const u = new URL(url);
  u.username = role;
  u.password = '';
  return u.toString();
}

function createPool(options: PgOptions, role: string | undefined, url = options.url): pg.Pool {
  const pool = new pg.Pool({
    connectionString: url,
    max: options.max ?? 10,
    idleTimeoutMillis: options.idleTimeoutMs ?? 300_000,
    statement_timeout: options.statementTimeoutMs ?? 30_000,
    // A transaction left open by a crashed handler must not pin a connection and its locks forever.
    idle_in_transaction_session_timeout: 60_000,
    connectionTimeoutMillis: 10_000,
    types,
    // A startup option, not a SET after connecting: a role that does not exist fails the connection
    // itself (fail closed), and no statement can ever run before the role applies.
    ...(role === undefined ? {} : { options: `-c role=${checkRoleName(role)}` }),
  });
  // Without a listener an idle client's network error would crash the process.
  pool.on('error', (err) => options.logger?.error({ err: err.message }, 'idle database connection failed'));
  return pool;
}

export function createPgDb(options: PgOptions): Db {
  let role = options.role;
  let pool = createPool(options, role);
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
      query: <R>(sql: Sql, params?: readonly unknown[]) => run<R>(client, sql, params),
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
      // One round trip for both: begin and the tenant scope go as one simple-protocol script (the
      // tenant id as an escaped literal; the extended protocol takes one statement per round trip).
      await raw.exec(
        tenantId === undefined
          ? 'begin'
          : `begin; select set_config('app.tenant_id', ${client.escapeLiteral(checkTenantId(tenantId))}, true)`,
      );
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
    query: async <T>(sql: Sql, params?: readonly unknown[]) => {
      ensureOpen();
      return run<T>(pool, sql, params);
    },
    exec: async (sql) => {
      ensureOpen();
      await run(pool, sql, undefined);
    },
    get role() {
      return role;
    },
    assumeRole: async (next) => {
      ensureOpen();
      checkRoleName(next);
      const attempt = async (candidate: pg.Pool): Promise<pg.Pool> => {
        try {
          await verifyRole(
            { query: (sql, params) => run(candidate, sql, params), exec: async () => {} },
            next,
          );
          return candidate;
        } catch (err) {
          await candidate.end();
          throw toDbError(err);
        }
      };
      let fresh: pg.Pool;
      try {
        // Logged in as the role itself, session_user is the role: no SET ROLE can climb out of it.
        fresh = await attempt(createPool(options, next, loginUrl(options.url, next)));
      } catch (err) {
        const e = err as DbError;
        if (e.code === 'ERR_ROLE') throw err;
        // Not allowed to log in as the role (say the server wants a password we do not have): keep
        // our login and run as the role through the startup option (RLS applies to every statement;
        // only an explicit SET ROLE NONE, which the backend never sends, would undo it).
        options.logger?.warn(
          { role: next, reason: e.message },
          'cannot log in as the application role; running as it through SET ROLE instead',
        );
        fresh = await attempt(createPool(options, next));
      }
      const old = pool;
      pool = fresh;
      role = next;
      await old.end();
    },
    transaction: (fn) => transaction(fn),
    withTenant: scopedTransactions(transaction),
    close: async () => {
      if (closed) return;
      closed = true;
      await pool.end();
    },
  };
}
