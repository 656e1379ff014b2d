import { newId } from '@zenmesh/crypto';
import { type Db, isDbError, type Tx } from '@zenmesh/db';
import { type AuditActor, appendAudit, SYSTEM_ACTOR } from './audit.js';
import { BackendError, internal, invalid, notFound } from './errors.js';
import { compileExpression } from './expression.js';
import { queryTenantRows, resolveTenant } from './tenants.js';

/** A source routed to an endpoint, with an optional CEL filter and transformation (routing.ts). */
export interface ConnectionRecord {
  id: string;
  tenantId: string;
  sourceId: string;
  endpointId: string;
  filter: string;
  transform: string;
  enabled: boolean;
  createdAt: Date;
  updatedAt: Date;
}

interface ConnectionRow {
  id: string;
  tenant_id: string;
  source_id: string;
  endpoint_id: string;
  filter: string;
  transform: string;
  enabled: boolean;
  created_at: Date;
  updated_at: Date;
}

const COLUMNS = 'id, tenant_id, source_id, endpoint_id, filter, transform, enabled, created_at, updated_at';

const toConnection = (r: ConnectionRow): ConnectionRecord => ({
  id: r.id,
  tenantId: r.tenant_id,
  sourceId: r.source_id,
  endpointId: r.endpoint_id,
  filter: r.filter,
  transform: r.transform,
  enabled: r.enabled,
  createdAt: r.created_at,
  updatedAt: r.updated_at,
});

/** What the audit log keeps of a connection (it holds no secret). */
const snapshot = (c: ConnectionRecord) => ({
  sourceId: c.sourceId,
  endpointId: c.endpointId,
  filter: c.filter,
  transform: c.transform,
  enabled: c.enabled,
});

/** '' stays '' (none); anything else must compile: the refusal names the position of the error. */
function validated(kind: 'filter' | 'transform', source: string | undefined): string | undefined {
  if (source === undefined || source.trim() === '') return source === undefined ? undefined : '';
  compileExpression(kind, source);
  return source;
}

const checkId = (id: string, reason: string): string => {
  if (id.length === 0 || id.length > 64) throw notFound(reason);
  return id;
};

async function exists(tx: Tx, table: 'endpoints', tenantId: string, id: string): Promise<boolean> {
  const { rows } = await tx.query(`select 1 from core.${table} where tenant_id = $1 and id = $2`, [
    tenantId,
    id,
  ]);
  return rows.length > 0;
}

export interface CreateConnectionInput {
  tenant: string;
  sourceId: string;
  endpointId: string;
  filter?: string | undefined;
  transform?: string | undefined;
  audit?: AuditActor | undefined;
}

/**
 * Connects a source to an endpoint (one live connection per pair: ALREADY_EXISTS `connection_exists`).
 * The first connection of a source still routing to `all` switches it to `connections`, audited as its
 * own `source.update` row, so from then on only connected endpoints get its events.
 */
export async function createConnection(db: Db, input: CreateConnectionInput): Promise<ConnectionRecord> {
  checkId(input.sourceId, 'source_not_found');
  checkId(input.endpointId, 'endpoint_not_found');
  const filter = validated('filter', input.filter) ?? '';
  const transform = validated('transform', input.transform) ?? '';
  const tenant = await resolveTenant(db, input.tenant);
  const who = input.audit ?? SYSTEM_ACTOR;
  try {
    return await db.withTenant(tenant.id, async (tx) => {
      const { rows: sources } = await tx.query<{ routing: string }>(
        'select routing from core.sources where tenant_id = $1 and id = $2 for update',
        [tenant.id, input.sourceId],
      );
      const source = sources[0];
      if (source === undefined) throw notFound('source_not_found');
      if (!(await exists(tx, 'endpoints', tenant.id, input.endpointId))) throw notFound('endpoint_not_found');
      const { rows } = await tx.query<ConnectionRow>(
        `insert into core.connections (id, tenant_id, source_id, endpoint_id, filter, transform)
         values ($1, $2, $3, $4, $5, $6) returning ${COLUMNS}`,
        [newId('con'), tenant.id, input.sourceId, input.endpointId, filter, transform],
      );
      const row = rows[0];
      if (row === undefined) throw internal('connection insert returned no row');
      const created = toConnection(row);
      await appendAudit(tx, tenant.id, who, {
        action: 'connection.create',
        target: `connection/${created.id}`,
        before: null,
        after: snapshot(created),
      });
      if (source.routing === 'all') {
        await tx.query(`update core.sources set routing = 'connections' where tenant_id = $1 and id = $2`, [
          tenant.id,
          input.sourceId,
        ]);
        await appendAudit(tx, tenant.id, who, {
          action: 'source.update',
          target: `source/${input.sourceId}`,
          before: { routing: 'all' },
          after: { routing: 'connections', because: `connection/${created.id}` },
        });
      }
      return created;
    });
  } catch (err) {
    if (isDbError(err, 'ERR_UNIQUE_VIOLATION')) {
      throw new BackendError('ERR_ALREADY_EXISTS', 'connection_exists', { cause: err });
    }
    throw err;
  }
}

/** Live connections of the tenant, optionally of one source or to one endpoint. */
export const listConnections = (
  db: Db,
  tenantRef: string,
  options: { sourceId?: string; endpointId?: string } = {},
): Promise<ConnectionRecord[]> =>
  queryTenantRows(
    db,
    tenantRef,
    `select ${COLUMNS} from core.connections
      where tenant_id = $1 and deleted_at is null
        and ($2::text is null or source_id = $2) and ($3::text is null or endpoint_id = $3)
      order by created_at, id`,
    (id) => [id, options.sourceId || null, options.endpointId || null],
    toConnection,
  );

async function lockConnection(tx: Tx, tenantId: string, id: string): Promise<ConnectionRecord> {
  checkId(id, 'connection_not_found');
  const { rows } = await tx.query<ConnectionRow>(
    `select ${COLUMNS} from core.connections
      where tenant_id = $1 and id = $2 and deleted_at is null for update`,
    [tenantId, id],
  );
  const row = rows[0];
  if (row === undefined) throw notFound('connection_not_found');
  return toConnection(row);
}

/** The read the fan-out's replay needs: a live connection, or undefined. */
export async function readConnection(
  tx: Tx,
  tenantId: string,
  id: string,
): Promise<ConnectionRecord | undefined> {
  const { rows } = await tx.query<ConnectionRow>(
    `select ${COLUMNS} from core.connections where tenant_id = $1 and id = $2 and deleted_at is null`,
    [tenantId, id],
  );
  return rows[0] === undefined ? undefined : toConnection(rows[0]);
}

export interface UpdateConnectionInput {
  tenant: string;
  connectionId: string;
  /** Replaces the filter when set ('' removes it). */
  filter?: string | undefined;
  transform?: string | undefined;
  enabled?: boolean | undefined;
  audit?: AuditActor | undefined;
}

/** Changes the fields given; new expressions are checked like at creation. Applies to events from now on. */
export async function updateConnection(db: Db, input: UpdateConnectionInput): Promise<ConnectionRecord> {
  const filter = validated('filter', input.filter);
  const transform = validated('transform', input.transform);
  if (filter === undefined && transform === undefined && input.enabled === undefined)
    throw invalid('no_changes');
  const tenant = await resolveTenant(db, input.tenant);
  return db.withTenant(tenant.id, async (tx) => {
    const before = await lockConnection(tx, tenant.id, input.connectionId);
    const { rows } = await tx.query<ConnectionRow>(
      `update core.connections
          set filter = coalesce($3, filter), transform = coalesce($4, transform),
              enabled = coalesce($5, enabled), updated_at = now()
        where tenant_id = $1 and id = $2 returning ${COLUMNS}`,
      [tenant.id, before.id, filter ?? null, transform ?? null, input.enabled ?? null],
    );
    const row = rows[0];
    if (row === undefined) throw notFound('connection_not_found');
    const after = toConnection(row);
    await appendAudit(tx, tenant.id, input.audit ?? SYSTEM_ACTOR, {
      action: 'connection.update',
      target: `connection/${after.id}`,
      before: snapshot(before),
      after: snapshot(after),
    });
    return after;
  });
}

/**
 * Deletes a connection (kept as history with deleted_at; its deliveries keep their id). The source stays
 * in `connections` mode even with none left: it then routes nowhere until connected again or switched
 * back with `source update --routing all` — never silently to every endpoint.
 */
export async function deleteConnection(
  db: Db,
  input: { tenant: string; connectionId: string; audit?: AuditActor | undefined },
): Promise<ConnectionRecord> {
  const tenant = await resolveTenant(db, input.tenant);
  return db.withTenant(tenant.id, async (tx) => {
    const before = await lockConnection(tx, tenant.id, input.connectionId);
    await tx.query(
      'update core.connections set deleted_at = now(), updated_at = now() where tenant_id = $1 and id = $2',
      [tenant.id, before.id],
    );
    await appendAudit(tx, tenant.id, input.audit ?? SYSTEM_ACTOR, {
      action: 'connection.delete',
      target: `connection/${before.id}`,
      before: snapshot(before),
      after: null,
    });
    return before;
  });
}
