import { newId } from '@zenmesh/crypto';
import { type Db, isDbError } from '@zenmesh/db';
import { type AuditActor, appendAudit, SYSTEM_ACTOR } from './audit.js';
import { BackendError, internal, invalid, notFound } from './errors.js';
import type { TenantRecord } from './records.js';
import { validateTenantName } from './validate.js';

interface TenantRow {
  id: string;
  name: string;
  created_at: Date;
}

const toTenant = (r: TenantRow): TenantRecord => ({ id: r.id, name: r.name, createdAt: r.created_at });

/** Creates the tenant and, in the same transaction, the first row of its audit chain. */
export async function createTenant(
  db: Db,
  name: string,
  who: AuditActor = SYSTEM_ACTOR,
): Promise<TenantRecord> {
  validateTenantName(name);
  const id = newId('ten');
  try {
    // The new tenant's own scope is what lets the row through the tenants policy's WITH CHECK.
    const row = await db.withTenant(id, async (tx) => {
      const { rows } = await tx.query<TenantRow>(
        'insert into core.tenants (id, name) values ($1, $2) returning id, name, created_at',
        [id, name],
      );
      const created = rows[0];
      if (created !== undefined) {
        await appendAudit(tx, id, who, {
          action: 'tenant.create',
          target: `tenant/${id}`,
          before: null,
          after: toTenant(created),
        });
      }
      return created;
    });
    if (row === undefined) throw internal('tenant insert returned no row');
    return toTenant(row);
  } catch (err) {
    if (isDbError(err, 'ERR_UNIQUE_VIOLATION')) {
      throw new BackendError('ERR_ALREADY_EXISTS', 'tenant_exists', { cause: err });
    }
    throw err;
  }
}

/** Cross-tenant (operator view), through core.list_tenants(). */
export async function listTenants(db: Db): Promise<TenantRecord[]> {
  const { rows } = await db.query<TenantRow>('select id, name, created_at from core.list_tenants()');
  return rows.map(toTenant);
}

/** A request's `tenant` field: the id (`ten_...`) or the name. NOT_FOUND `tenant_not_found` otherwise. */
export async function resolveTenant(db: Db, ref: string): Promise<TenantRecord> {
  if (ref.length === 0) throw invalid('tenant_required');
  if (ref.length > 64) throw notFound('tenant_not_found');
  const { rows } = await db.query<TenantRow>('select id, name, created_at from core.find_tenant($1)', [ref]);
  const row = rows[0];
  if (row === undefined) throw notFound('tenant_not_found');
  return toTenant(row);
}

/**
 * The rows one query reads of a tenant (by id or name), inside that tenant's scope so row-level security
 * applies; `params` gets the tenant's id (it must also filter on `tenant_id` explicitly).
 */
export async function queryTenantRows<R, T>(
  db: Db,
  tenantRef: string,
  sql: string,
  params: (tenantId: string) => unknown[],
  map: (row: R) => T,
): Promise<T[]> {
  const tenant = await resolveTenant(db, tenantRef);
  return db.withTenant(tenant.id, async (tx) => (await tx.query<R>(sql, params(tenant.id))).rows.map(map));
}
