import { newId } from '@zenmesh/crypto';
import type { Queryable } from '@zenmesh/db';
import { generateApiKey, hashApiKey, isSha256Hex, isWellFormedApiKey } from './api-key.js';
import { TokenError } from './errors.js';

export interface ApiKeyRecord {
  id: string;
  /** null for a cluster-wide key. */
  tenantId: string | null;
  name: string;
  scopes: string[];
  createdAt: Date;
  expiresAt: Date | null;
  revokedAt: Date | null;
}

/** Deliberately one shape for every refusal: callers (and attackers) cannot tell why a key failed. */
export type ApiKeyVerdict =
  | { valid: false }
  | { valid: true; keyId: string; tenantId: string | null; scopes: string[] };

export interface CreateApiKeyInput {
  name: string;
  scopes: readonly string[];
  tenantId?: string | null;
  expiresAt?: Date | null;
}

export interface ApiKeyStore {
  /** Mints a key and stores its hash; the plaintext is returned here and nowhere else. */
  create(input: CreateApiKeyInput): Promise<{ apiKey: string; record: ApiKeyRecord }>;
  verify(apiKey: string): Promise<ApiKeyVerdict>;
  /** Marks a key revoked; false when there is no such live key. */
  revoke(id: string): Promise<boolean>;
  /** Every key, or only those of one tenant (`null` = only cluster-wide keys). */
  list(tenantId?: string | null): Promise<ApiKeyRecord[]>;
  get(id: string): Promise<ApiKeyRecord | null>;
  /** Inserts the cluster-admin key with this hash unless one with the hash exists; true when inserted. */
  ensureBootstrapAdmin(keySha256Hex: string): Promise<boolean>;
}

export const BOOTSTRAP_ADMIN_NAME = 'bootstrap-admin';

interface ApiKeyRow {
  id: string;
  tenant_id: string | null;
  name: string;
  scopes: string[];
  created_at: Date | string;
  expires_at: Date | string | null;
  revoked_at: Date | string | null;
}

const COLUMNS = 'id, tenant_id, name, scopes, created_at, expires_at, revoked_at';

const toDate = (v: Date | string): Date => (v instanceof Date ? v : new Date(v));

function toRecord(row: ApiKeyRow): ApiKeyRecord {
  return {
    id: row.id,
    tenantId: row.tenant_id,
    name: row.name,
    scopes: [...row.scopes],
    createdAt: toDate(row.created_at),
    expiresAt: row.expires_at === null ? null : toDate(row.expires_at),
    revokedAt: row.revoked_at === null ? null : toDate(row.revoked_at),
  };
}

export function createApiKeyStore(opts: { db: Queryable; now?: () => Date }): ApiKeyStore {
  const { db } = opts;
  const now = opts.now ?? (() => new Date());

  return {
    async create(input) {
      if (input.name.length === 0 || input.name.length > 200) {
        throw new TokenError('ERR_API_KEY_ARGUMENT', 'api key name must be 1-200 characters');
      }
      const apiKey = generateApiKey();
      const { rows } = await db.query<ApiKeyRow>(
        `INSERT INTO token.api_keys (id, tenant_id, name, scopes, key_sha256, created_at, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING ${COLUMNS}`,
        [
          newId('key'),
          input.tenantId ?? null,
          input.name,
          [...input.scopes],
          hashApiKey(apiKey),
          now(),
          input.expiresAt ?? null,
        ],
      );
      const row = rows[0];
      if (row === undefined) throw new TokenError('ERR_INTERNAL', 'INSERT ... RETURNING returned no row');
      return { apiKey, record: toRecord(row) };
    },

    async verify(apiKey) {
      // Malformed input never reaches the database: it cannot match a generated key anyway.
      if (!isWellFormedApiKey(apiKey)) return { valid: false };
      // A lookup by hash is not a timing oracle: the key carries 256 random bits, so how long an index
      // probe for SHA-256(guess) takes reveals nothing useful about any stored key's preimage.
      const { rows } = await db.query<ApiKeyRow>(
        `SELECT ${COLUMNS} FROM token.api_keys WHERE key_sha256 = $1`,
        [hashApiKey(apiKey)],
      );
      const row = rows[0];
      if (row === undefined) return { valid: false };
      const record = toRecord(row);
      const at = now().getTime();
      if (record.revokedAt !== null && record.revokedAt.getTime() <= at) return { valid: false };
      if (record.expiresAt !== null && record.expiresAt.getTime() <= at) return { valid: false };
      return { valid: true, keyId: record.id, tenantId: record.tenantId, scopes: record.scopes };
    },

    async revoke(id) {
      const { rows } = await db.query<{ id: string }>(
        'UPDATE token.api_keys SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL RETURNING id',
        [id, now()],
      );
      return rows.length === 1;
    },

    async list(tenantId) {
      const { rows } =
        tenantId === undefined
          ? await db.query<ApiKeyRow>(`SELECT ${COLUMNS} FROM token.api_keys ORDER BY created_at, id`)
          : await db.query<ApiKeyRow>(
              `SELECT ${COLUMNS} FROM token.api_keys WHERE tenant_id IS NOT DISTINCT FROM $1 ORDER BY created_at, id`,
              [tenantId],
            );
      return rows.map(toRecord);
    },

    async get(id) {
      const { rows } = await db.query<ApiKeyRow>(`SELECT ${COLUMNS} FROM token.api_keys WHERE id = $1`, [id]);
      const row = rows[0];
      return row === undefined ? null : toRecord(row);
    },

    async ensureBootstrapAdmin(keySha256HexInput) {
      const keySha256Hex = keySha256HexInput.toLowerCase();
      if (!isSha256Hex(keySha256Hex)) {
        throw new TokenError(
          'ERR_BOOTSTRAP_HASH_INVALID',
          'ZENMESH_BOOTSTRAP_ADMIN_KEY_SHA256: expected the 64 hex characters of a SHA-256 digest',
        );
      }
      // Keyed on the hash, not the name: an operator who revoked the bootstrap key must not see it come
      // back on the next restart, and a rotated launcher key (new hash) gets its own row.
      const { rows } = await db.query<{ id: string }>(
        `INSERT INTO token.api_keys (id, tenant_id, name, scopes, key_sha256, created_at)
         VALUES ($1, NULL, $2, $3, $4, $5) ON CONFLICT (key_sha256) DO NOTHING RETURNING id`,
        [newId('key'), BOOTSTRAP_ADMIN_NAME, ['admin'], keySha256Hex, now()],
      );
      return rows.length === 1;
    },
  };
}
