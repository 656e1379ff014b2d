import type { Db, Tx } from './types.js';

/**
 * `set_config(..., true)` is the function form of SET LOCAL: the value lives until the end of the
 * current transaction, so a pooled connection never carries one tenant's scope into the next request.
 */
export async function enterTenantScope(tx: Tx, tenantId: string): Promise<void> {
  await tx.query(`select set_config('app.tenant_id', $1, true)`, [checkTenantId(tenantId)]);
}

/** A tenant id is a non-empty string without NUL (which no Postgres text can hold). */
export function checkTenantId(tenantId: string): string {
  if (typeof tenantId !== 'string' || tenantId.length === 0 || tenantId.includes('\0')) {
    throw new TypeError('withTenant: tenantId must be a non-empty string');
  }
  return tenantId;
}

type Transaction = <T>(fn: (tx: Tx) => Promise<T>, tenantId?: string) => Promise<T>;

/** A driver's `withTenant`: its transaction entered in the tenant's scope, the id refused before anything is sent. */
export function scopedTransactions(transaction: Transaction): Db['withTenant'] {
  return (tenantId, fn) => {
    try {
      checkTenantId(tenantId);
    } catch (err) {
      return Promise.reject(err);
    }
    return transaction(fn, tenantId);
  };
}

/** Wraps a transaction handle so that using it after COMMIT/ROLLBACK fails loudly. */
export function guardTx(tx: Tx, isOpen: () => boolean, closedError: () => Error): Tx {
  return {
    query: (sql, params) => (isOpen() ? tx.query(sql, params) : Promise.reject(closedError())),
    exec: (sql) => (isOpen() ? tx.exec(sql) : Promise.reject(closedError())),
  } as Tx;
}
