import type { Db, Tx } from '@zenmesh/db';
import { type AuditActor, appendAudit, SYSTEM_ACTOR } from './audit.js';
import { internal, invalid, notFound } from './errors.js';
import { resolveTenant } from './tenants.js';

/** Per-tenant retention and notification settings (docs/retention.md, docs/notifications.md). */
export interface TenantSettingsRecord {
  tenantId: string;
  retentionDays: number;
  auditRetentionDays: number;
  /** null: no operational events are sent. */
  notificationEndpointId: string | null;
}

/** The bounds migration 0009 also enforces (CHECK constraints); refused here first with a clear reason. */
export const RETENTION_BOUNDS = { min: 1, max: 365, default: 30 } as const;
export const AUDIT_RETENTION_BOUNDS = { min: 30, max: 3650, default: 365 } as const;

export interface TenantSettingsUpdate {
  tenant: string;
  retentionDays?: number | undefined;
  auditRetentionDays?: number | undefined;
  /** "" removes it. */
  notificationEndpointId?: string | undefined;
  audit?: AuditActor | undefined;
}

interface SettingsRow {
  id: string;
  retention_days: number;
  audit_retention_days: number;
  notification_endpoint_id: string | null;
}

const COLUMNS = 'id, retention_days, audit_retention_days, notification_endpoint_id';

const toSettings = (r: SettingsRow): TenantSettingsRecord => ({
  tenantId: r.id,
  retentionDays: r.retention_days,
  auditRetentionDays: r.audit_retention_days,
  notificationEndpointId: r.notification_endpoint_id,
});

const inBounds = (value: number, b: { min: number; max: number }): boolean =>
  Number.isInteger(value) && value >= b.min && value <= b.max;

/** The settings row inside the caller's tenant scope. */
export async function readTenantSettings(
  tx: Tx,
  tenantId: string,
  lock = false,
): Promise<TenantSettingsRecord> {
  const { rows } = await tx.query<SettingsRow>(
    `select ${COLUMNS} from core.tenants where id = $1${lock ? ' for update' : ''}`,
    [tenantId],
  );
  const row = rows[0];
  if (row === undefined) throw notFound('tenant_not_found');
  return toSettings(row);
}

export async function getTenantSettings(db: Db, tenantRef: string): Promise<TenantSettingsRecord> {
  const tenant = await resolveTenant(db, tenantRef);
  return db.withTenant(tenant.id, (tx) => readTenantSettings(tx, tenant.id));
}

/** Changes the fields given (all checked before anything is written), with one audit row. */
export async function updateTenantSettings(
  db: Db,
  input: TenantSettingsUpdate,
): Promise<TenantSettingsRecord> {
  const { retentionDays, auditRetentionDays, notificationEndpointId } = input;
  if (retentionDays !== undefined && !inBounds(retentionDays, RETENTION_BOUNDS))
    throw invalid(`retention_days_out_of_bounds: ${RETENTION_BOUNDS.min}-${RETENTION_BOUNDS.max}`);
  if (auditRetentionDays !== undefined && !inBounds(auditRetentionDays, AUDIT_RETENTION_BOUNDS))
    throw invalid(
      `audit_retention_days_out_of_bounds: ${AUDIT_RETENTION_BOUNDS.min}-${AUDIT_RETENTION_BOUNDS.max}`,
    );
  if (notificationEndpointId !== undefined && notificationEndpointId.length > 64)
    throw notFound('endpoint_not_found');
  const tenant = await resolveTenant(db, input.tenant);
  return db.withTenant(tenant.id, async (tx) => {
    const before = await readTenantSettings(tx, tenant.id, true);
    if (notificationEndpointId !== undefined && notificationEndpointId !== '') {
      const { rows } = await tx.query('select 1 from core.endpoints where tenant_id = $1 and id = $2', [
        tenant.id,
        notificationEndpointId,
      ]);
      if (rows.length === 0) throw notFound('endpoint_not_found');
    }
    const { rows } = await tx.query<SettingsRow>(
      `update core.tenants
          set retention_days = coalesce($2, retention_days),
              audit_retention_days = coalesce($3, audit_retention_days),
              notification_endpoint_id = case when $4::text is null then notification_endpoint_id
                                              else nullif($4::text, '') end
        where id = $1
        returning ${COLUMNS}`,
      [tenant.id, retentionDays ?? null, auditRetentionDays ?? null, notificationEndpointId ?? null],
    );
    const row = rows[0];
    if (row === undefined) throw internal('tenant settings update returned no row');
    const after = toSettings(row);
    await appendAudit(tx, tenant.id, input.audit ?? SYSTEM_ACTOR, {
      action: 'tenant.settings.update',
      target: `tenant/${tenant.id}`,
      before,
      after,
    });
    return after;
  });
}
