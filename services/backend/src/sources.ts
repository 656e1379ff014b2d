import { newId } from '@zenmesh/crypto';
import { type Db, isDbError } from '@zenmesh/db';
import { BackendError, invalid, notFound } from './errors.js';
import type { GenericHmacConfig, SourceRecord } from './records.js';
import type { SecretBoxes } from './secrets.js';
import { resolveTenant } from './tenants.js';
import { validateSourceName } from './validate.js';

export const PROVIDERS = ['generic'] as const;

export const GENERIC_DEFAULTS: GenericHmacConfig = {
  header: 'x-signature',
  algorithm: 'sha256',
  encoding: 'hex',
  prefix: 'sha256=',
};

export interface CreateSourceInput {
  tenant: string;
  provider: string;
  name: string;
  secret: string;
  generic?: GenericHmacInput | undefined;
}

/** As sent by a caller: empty or absent fields take the defaults, except prefix (see normaliseGeneric). */
export type GenericHmacInput = { [K in keyof GenericHmacConfig]?: string };

interface SourceRow {
  id: string;
  tenant_id: string;
  provider: string;
  name: string;
  config: { generic?: GenericHmacConfig };
  secret_sealed: string;
  previous_secret_sealed: string | null;
  created_at: Date;
}

const COLUMNS = 'id, tenant_id, provider, name, config, secret_sealed, previous_secret_sealed, created_at';

const toSource = (r: SourceRow): SourceRecord => ({
  id: r.id,
  tenantId: r.tenant_id,
  provider: r.provider,
  name: r.name,
  generic: { ...GENERIC_DEFAULTS, ...r.config.generic },
  createdAt: r.created_at,
});

/** Empty fields take the defaults; anything set must be one of the supported values. */
export function normaliseGeneric(input: GenericHmacInput | undefined): GenericHmacConfig {
  const pick = <K extends keyof GenericHmacConfig>(k: K): GenericHmacConfig[K] => {
    const v = input?.[k];
    return v === undefined || v === '' ? GENERIC_DEFAULTS[k] : (v as GenericHmacConfig[K]);
  };
  const config: GenericHmacConfig = {
    header: pick('header').toLowerCase(),
    algorithm: pick('algorithm'),
    encoding: pick('encoding'),
    // An explicit empty prefix means "no prefix"; only an absent one takes the default.
    prefix: input?.prefix ?? GENERIC_DEFAULTS.prefix,
  };
  // RFC 9110 §5.1 field-name token characters, lower-cased.
  if (!/^[a-z0-9!#$%&'*+.^_`|~-]{1,100}$/.test(config.header)) throw invalid('invalid_generic_header');
  if (config.algorithm !== 'sha256' && config.algorithm !== 'sha512')
    throw invalid('invalid_generic_algorithm');
  if (config.encoding !== 'hex' && config.encoding !== 'base64') throw invalid('invalid_generic_encoding');
  if (config.prefix.length > 32) throw invalid('invalid_generic_prefix');
  return config;
}

export async function createSource(
  db: Db,
  boxes: SecretBoxes,
  input: CreateSourceInput,
): Promise<SourceRecord> {
  if (!(PROVIDERS as readonly string[]).includes(input.provider)) throw invalid('invalid_provider');
  // A name is optional for the caller; unnamed sources are named after their (unique) id.
  if (input.name !== '') validateSourceName(input.name);
  if (input.secret.length === 0) throw invalid('empty_secret');
  if (input.secret.length > 4096) throw invalid('secret_too_long');
  const generic = normaliseGeneric(input.generic);
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
        [id, tenant.id, input.provider, name, JSON.stringify({ generic }), sealed],
      );
      return rows[0];
    });
    if (row === undefined) throw new Error('insert returned no row');
    return toSource(row);
  } catch (err) {
    if (isDbError(err, 'ERR_UNIQUE_VIOLATION')) {
      throw new BackendError('ERR_ALREADY_EXISTS', 'source_exists', { cause: err });
    }
    throw err;
  }
}

export async function listSources(db: Db, tenantRef: string): Promise<SourceRecord[]> {
  const tenant = await resolveTenant(db, tenantRef);
  return db.withTenant(tenant.id, async (tx) => {
    const { rows } = await tx.query<SourceRow>(
      `select ${COLUMNS} from core.sources where tenant_id = $1 order by created_at, id`,
      [tenant.id],
    );
    return rows.map(toSource);
  });
}

/** Looks a source up across tenants (core.resolve_source); NOT_FOUND `source_not_found`. */
export async function findSource(db: Db, sourceId: string): Promise<SourceRecord & { row: SourceRow }> {
  if (sourceId.length === 0 || sourceId.length > 64) throw notFound('source_not_found');
  const { rows } = await db.query<SourceRow>(`select ${COLUMNS} from core.resolve_source($1)`, [sourceId]);
  const row = rows[0];
  if (row === undefined) throw notFound('source_not_found');
  return { ...toSource(row), row };
}

/** Ingester only: the source with its secrets opened, current first, previous (during rotation) next. */
export async function resolveSource(
  db: Db,
  boxes: SecretBoxes,
  sourceId: string,
): Promise<{ source: SourceRecord; secrets: string[] }> {
  const { row, ...source } = await findSource(db, sourceId);
  const secrets = [boxes.source.open(row.secret_sealed, row.id)];
  if (row.previous_secret_sealed !== null)
    secrets.push(boxes.source.open(row.previous_secret_sealed, row.id));
  return { source, secrets };
}
