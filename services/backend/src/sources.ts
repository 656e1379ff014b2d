import { newId } from '@zenmesh/crypto';
import { type Db, isDbError, type Tx } from '@zenmesh/db';
import { GENERIC_DEFAULTS, type GenericHmacConfig, isProviderName } from '@zenmesh/providers';
import { type AuditActor, appendAudit, SYSTEM_ACTOR } from './audit.js';
import { DEFAULT_PREVIOUS_SECRET_S, MAX_PREVIOUS_SECRET_S } from './endpoints.js';
import { BackendError, internal, invalid, notFound } from './errors.js';
import type { SourceRecord } from './records.js';
import { ROUTING_MODES, type RoutingMode } from './routing.js';
import type { SecretBoxes } from './secrets.js';
import {
  type GenericHmacInput,
  normaliseGeneric,
  validateSourceSecret,
  validateTolerance,
} from './source-config.js';
import { queryTenantRows, resolveTenant } from './tenants.js';
import { validateSourceName } from './validate.js';

export interface CreateSourceInput {
  tenant: string;
  provider: string;
  name: string;
  secret: string;
  generic?: GenericHmacInput | undefined;
  /** 0 or absent = the default (300 s). */
  toleranceSeconds?: number | undefined;
  /** Who asked; recorded in the tenant's audit chain. */
  audit?: AuditActor | undefined;
}

interface SourceConfig {
  generic?: Partial<GenericHmacConfig>;
  toleranceSeconds?: number;
}

interface SourceRow {
  id: string;
  tenant_id: string;
  provider: string;
  name: string;
  config: SourceConfig;
  secret_sealed: string;
  previous_secret_sealed: string | null;
  previous_secret_expires_at: Date | null;
  created_at: Date;
  routing: RoutingMode;
}

const COLUMNS =
  'id, tenant_id, provider, name, config, secret_sealed, previous_secret_sealed, previous_secret_expires_at, created_at, routing';

const toSource = (r: SourceRow): SourceRecord => ({
  id: r.id,
  tenantId: r.tenant_id,
  provider: r.provider,
  name: r.name,
  generic: r.provider === 'generic' ? { ...GENERIC_DEFAULTS, ...r.config.generic } : null,
  toleranceSeconds: r.config.toleranceSeconds ?? 0,
  previousSecretExpiresAt: r.previous_secret_expires_at,
  createdAt: r.created_at,
  routing: r.routing,
});

export async function createSource(
  db: Db,
  boxes: SecretBoxes,
  input: CreateSourceInput,
): Promise<SourceRecord> {
  if (!isProviderName(input.provider)) throw invalid('invalid_provider');
  // A name is optional for the caller; unnamed sources are named after their (unique) id.
  if (input.name !== '') validateSourceName(input.name);
  validateSourceSecret(input.provider, input.secret);
  const config: SourceConfig = {};
  if (input.provider === 'generic') config.generic = normaliseGeneric(input.generic);
  else if (input.generic !== undefined) throw invalid('generic_config_not_allowed');
  const tolerance = validateTolerance(input.toleranceSeconds);
  if (tolerance !== 0) config.toleranceSeconds = tolerance;
  const tenant = await resolveTenant(db, input.tenant);
  const id = newId('src');
  const name = input.name === '' ? id : input.name;
  // The row id is the AAD: a sealed secret copied onto another source's row will not open.
  const sealed = boxes.source.seal(input.secret, id);
  try {
    const row = await db.withTenant(tenant.id, async (tx) => {
      const { rows } = await tx.query<SourceRow>(
        `insert into core.sources (id, tenant_id, provider, name, config, secret_sealed)
         values ($1, $2, $3, $4, $5, $6) returning ${COLUMNS}`,
        [id, tenant.id, input.provider, name, JSON.stringify(config), sealed],
      );
      const created = rows[0];
      if (created !== undefined) {
        // The snapshot never holds the secret, sealed or not.
        await appendAudit(tx, tenant.id, input.audit ?? SYSTEM_ACTOR, {
          action: 'source.create',
          target: `source/${id}`,
          before: null,
          after: toSource(created),
        });
      }
      return created;
    });
    if (row === undefined) throw internal('source insert returned no row');
    return toSource(row);
  } catch (err) {
    if (isDbError(err, 'ERR_UNIQUE_VIOLATION')) {
      throw new BackendError('ERR_ALREADY_EXISTS', 'source_exists', { cause: err });
    }
    throw err;
  }
}

export interface RotateSourceSecretInput {
  tenant: string;
  sourceId: string;
  secret: string;
  /** How long the current secret stays accepted; 0 or absent = 24 h; at most 7 days. */
  previousValidS?: number | undefined;
  audit?: AuditActor | undefined;
}

async function lockSource(tx: Tx, tenantId: string, sourceId: string): Promise<SourceRow> {
  if (sourceId.length === 0 || sourceId.length > 64) throw notFound('source_not_found');
  const { rows } = await tx.query<SourceRow>(
    `select ${COLUMNS} from core.sources where tenant_id = $1 and id = $2 for update`,
    [tenantId, sourceId],
  );
  const row = rows[0];
  if (row === undefined) throw notFound('source_not_found');
  return row;
}

/**
 * A new secret for a source: the current one becomes the previous one, still accepted until
 * `previousValidS` from now, so webhooks the provider signs while its side is being switched verify.
 * A previous secret left over from an earlier rotation is dropped. Audited (no secret in the row).
 */
export async function rotateSourceSecret(
  db: Db,
  boxes: SecretBoxes,
  input: RotateSourceSecretInput,
): Promise<SourceRecord> {
  const validS =
    input.previousValidS === undefined || input.previousValidS === 0
      ? DEFAULT_PREVIOUS_SECRET_S
      : input.previousValidS;
  if (!Number.isInteger(validS) || validS < 1 || validS > MAX_PREVIOUS_SECRET_S) {
    throw invalid('invalid_previous_valid_s');
  }
  const tenant = await resolveTenant(db, input.tenant);
  return db.withTenant(tenant.id, async (tx) => {
    const before = await lockSource(tx, tenant.id, input.sourceId);
    validateSourceSecret(before.provider, input.secret);
    const { rows } = await tx.query<SourceRow>(
      `update core.sources
          set previous_secret_sealed = secret_sealed, secret_sealed = $3,
              previous_secret_expires_at = now() + make_interval(secs => $4::float8)
        where tenant_id = $1 and id = $2 returning ${COLUMNS}`,
      [tenant.id, before.id, boxes.source.seal(input.secret, before.id), validS],
    );
    const row = rows[0];
    if (row === undefined) throw notFound('source_not_found');
    const source = toSource(row);
    await appendAudit(tx, tenant.id, input.audit ?? SYSTEM_ACTOR, {
      action: 'source.rotate_secret',
      target: `source/${source.id}`,
      before: { previousSecretExpiresAt: toSource(before).previousSecretExpiresAt },
      after: { previousSecretExpiresAt: source.previousSecretExpiresAt },
    });
    return source;
  });
}

export interface UpdateSourceInput {
  tenant: string;
  sourceId: string;
  /** 1..MAX_TOLERANCE_S, or 0 for the default (300 s); absent = unchanged. */
  toleranceSeconds?: number | undefined;
  /** 'all' or 'connections' (routing.ts); absent = unchanged. */
  routing?: string | undefined;
  audit?: AuditActor | undefined;
}

/**
 * Changes the fields given: the signed-timestamp tolerance (capped like at creation: a large window would
 * let a captured webhook be replayed for that long) and the routing mode. Audited with before and after.
 */
export async function updateSource(db: Db, input: UpdateSourceInput): Promise<SourceRecord> {
  if (input.toleranceSeconds === undefined && input.routing === undefined) throw invalid('no_changes');
  const tolerance =
    input.toleranceSeconds === undefined ? undefined : validateTolerance(input.toleranceSeconds);
  if (input.routing !== undefined && !ROUTING_MODES.includes(input.routing as RoutingMode)) {
    throw invalid('invalid_routing');
  }
  const tenant = await resolveTenant(db, input.tenant);
  return db.withTenant(tenant.id, async (tx) => {
    const before = await lockSource(tx, tenant.id, input.sourceId);
    const config: SourceConfig = { ...before.config };
    if (tolerance === 0) delete config.toleranceSeconds;
    else if (tolerance !== undefined) config.toleranceSeconds = tolerance;
    const { rows } = await tx.query<SourceRow>(
      `update core.sources set config = $3, routing = coalesce($4, routing)
        where tenant_id = $1 and id = $2 returning ${COLUMNS}`,
      [tenant.id, before.id, JSON.stringify(config), input.routing ?? null],
    );
    const row = rows[0];
    if (row === undefined) throw notFound('source_not_found');
    const source = toSource(row);
    await appendAudit(tx, tenant.id, input.audit ?? SYSTEM_ACTOR, {
      action: 'source.update',
      target: `source/${source.id}`,
      before: { toleranceSeconds: toSource(before).toleranceSeconds, routing: before.routing },
      after: { toleranceSeconds: source.toleranceSeconds, routing: source.routing },
    });
    return source;
  });
}

export const listSources = (db: Db, tenantRef: string): Promise<SourceRecord[]> =>
  queryTenantRows(
    db,
    tenantRef,
    `select ${COLUMNS} from core.sources where tenant_id = $1 order by created_at, id`,
    (id) => [id],
    toSource,
  );

/** Looks a source up across tenants (core.resolve_source); NOT_FOUND `source_not_found`. */
export async function findSource(
  db: Db,
  sourceId: string,
): Promise<SourceRecord & { row: SourceRow; previousLive: boolean }> {
  if (sourceId.length === 0 || sourceId.length > 64) throw notFound('source_not_found');
  // The database's clock decides whether the previous secret is still live, as it set the expiry.
  const { rows } = await db.query<SourceRow & { previous_live: boolean }>(
    `select ${COLUMNS}, coalesce(previous_secret_expires_at > now(), false) as previous_live
       from core.resolve_source($1)`,
    [sourceId],
  );
  const row = rows[0];
  if (row === undefined) throw notFound('source_not_found');
  return { ...toSource(row), row, previousLive: row.previous_live };
}

/** Ingester only: the source with its secrets opened, current first, previous (during rotation) next. */
export async function resolveSource(
  db: Db,
  boxes: SecretBoxes,
  sourceId: string,
): Promise<{ source: SourceRecord; secrets: string[] }> {
  const { row, previousLive, ...source } = await findSource(db, sourceId);
  const secrets = [boxes.source.open(row.secret_sealed, row.id)];
  if (previousLive && row.previous_secret_sealed !== null)
    secrets.push(boxes.source.open(row.previous_secret_sealed, row.id));
  return { source, secrets };
}
