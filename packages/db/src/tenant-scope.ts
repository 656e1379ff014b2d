import type { Tx } from './types.js';

/**
 * `set_config(..., true)` is the function form of SET LOCAL: the value lives until the end of the
 * current transaction, so a pooled connection never carries one tenant's scope into the next request.
 */
export async function enterTenantScope(tx: Tx, tenantId: string): Promise<void> {
  if (typeof tenantId !== 'string' || tenantId.length === 0) {
    throw new TypeError('withTenant: tenantId must be a non-empty string');
  }
  await tx.query(`select set_config('app.tenant_id', $1, true)`, [tenantId]);
}

/** Wraps a transaction handle so that using it after COMMIT/ROLLBACK fails loudly. */
export function guardTx(tx: Tx, isOpen: () => boolean, closedError: () => Error): Tx {
  return {
    query: (sql, params) => (isOpen() ? tx.query(sql, params) : Promise.reject(closedError())),
    exec: (sql) => (isOpen() ? tx.exec(sql) : Promise.reject(closedError())),
  } as Tx;
}
