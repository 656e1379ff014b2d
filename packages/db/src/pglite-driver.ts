import { PGlite, type Transaction } from '@electric-sql/pglite';
import { DbError, toDbError } from './errors.js';
import { createMutex } from './mutex.js';
import { checkRoleName, verifyRole } from './role.js';
import { sqlText } from './statement.js';
import { enterTenantScope, guardTx, scopedTransactions } from './tenant-scope.js';
import type { Db, QueryResult, Sql, Tx } from './types.js';

export interface PgliteOptions {
  /** Directory that persists the database; in memory when absent. */
  dataDir?: string;
}

type Runner = Pick<Transaction, 'query' | 'exec'>;

const run = async <T>(
  runner: Runner,
  sql: Sql,
  params: readonly unknown[] | undefined,
): Promise<QueryResult<T>> => {
  try {
    // One connection, no server-side statement cache to keep: a named statement runs as its text.
    const res = await runner.query<T>(sqlText(sql), params === undefined ? [] : [...params]);
    return { rows: res.rows, rowCount: res.affectedRows || res.rows.length };
  } catch (err) {
    throw toDbError(err);
  }
};

const execScript = async (runner: Runner, sql: string): Promise<void> => {
  try {
    await runner.exec(sql);
  } catch (err) {
    throw toDbError(err);
  }
};

export async function createPgliteDb(options: PgliteOptions = {}): Promise<Db> {
  let pglite: PGlite;
  try {
    pglite = options.dataDir === undefined ? await PGlite.create() : await PGlite.create(options.dataDir);
  } catch (err) {
    throw new DbError('ERR_CONNECTION', `cannot open embedded database: ${(err as Error).message}`, {
      cause: err,
    });
  }
  // PGlite is one connection: every statement and every transaction takes this lock, so two
  // concurrent requests never interleave statements inside one another's transaction.
  const mutex = createMutex();
  let closed = false;
  let role: string | undefined;

  const ensureOpen = (): void => {
    if (closed) throw new DbError('ERR_CLOSED', 'database is closed');
  };

  const transaction = async <T>(fn: (tx: Tx) => Promise<T>, tenantId?: string): Promise<T> => {
    ensureOpen();
    return mutex.run(async () => {
      let fnFailure: { err: unknown } | undefined;
      try {
        return await pglite.transaction(async (ptx) => {
          let open = true;
          const raw: Tx = {
            query: <R>(sql: Sql, params?: readonly unknown[]) => run<R>(ptx, sql, params),
            exec: (sql) => execScript(ptx, sql),
          };
          const tx = guardTx(
            raw,
            () => open,
            () => new DbError('ERR_TX_CLOSED', 'transaction already finished'),
          );
          try {
            if (tenantId !== undefined) await enterTenantScope(raw, tenantId);
            return await fn(tx);
          } catch (err) {
            fnFailure = { err };
            throw err;
          } finally {
            open = false;
          }
        });
      } catch (err) {
        // Errors thrown by fn itself pass through untouched; driver errors (BEGIN/COMMIT) become DbErrors.
        if (fnFailure !== undefined && fnFailure.err === err) throw err;
        throw toDbError(err);
      }
    });
  };

  return {
    kind: 'pglite',
    query: async <T>(sql: Sql, params?: readonly unknown[]) => {
      ensureOpen();
      return mutex.run(() => run<T>(pglite, sql, params));
    },
    exec: async (sql) => {
      ensureOpen();
      return mutex.run(() => execScript(pglite, sql));
    },
    get role() {
      return role;
    },
    assumeRole: async (next) => {
      ensureOpen();
      checkRoleName(next);
      // PGlite is one connection: a session-level SET ROLE applies to everything after it.
      await mutex.run(async () => {
        await execScript(pglite, `set role ${next}`);
        try {
          await verifyRole({ query: (sql, params) => run(pglite, sql, params), exec: async () => {} }, next);
        } catch (err) {
          await execScript(pglite, 'reset role');
          throw err;
        }
      });
      role = next;
    },
    transaction: (fn) => transaction(fn),
    withTenant: scopedTransactions(transaction),
    close: async () => {
      if (closed) return;
      closed = true;
      await mutex.run(() => pglite.close());
    },
  };
}
