import { sha256Hex } from '@zenmesh/crypto';
import { createDatabase, createScratchDatabase, type Db, type ScratchDatabase } from '@zenmesh/db';
import { createLogger } from '@zenmesh/telemetry';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateApiKey, hashApiKey, isWellFormedApiKey } from './api-key.js';
import { type ApiKeyStore, createApiKeyStore } from './api-key-store.js';
import { toVerifyApiKeyAnswer } from './token-grpc.js';
import { openTokenStore } from './token-service.js';

const REFUSAL = { valid: false, keyId: '', tenantId: '', scopes: [] };

let scratch: ScratchDatabase;
let db: Db;
let store: ApiKeyStore;

beforeAll(async () => {
  scratch = await createScratchDatabase(process.env.DATABASE_URL ?? '', 'zm_test_token');
  db = await createDatabase({ url: scratch.url });
  store = await openTokenStore({ db, logger: createLogger('token-test', { level: 'silent' }) });
});

afterAll(async () => {
  await db?.close();
  await scratch?.drop();
});

const answer = async (key: string) => toVerifyApiKeyAnswer(await store.verify(key));

describe('api key format', () => {
  it('is zm_ + base64url of 32 bytes', () => {
    const key = generateApiKey();
    expect(key).toMatch(/^zm_[A-Za-z0-9_-]{43}$/);
    expect(Buffer.from(key.slice(3), 'base64url')).toHaveLength(32);
    expect(isWellFormedApiKey(key)).toBe(true);
    expect(generateApiKey()).not.toBe(key);
  });
});

describe('VerifyApiKey against the store', () => {
  it('accepts a live cluster-wide key and reports its id and scopes', async () => {
    const { apiKey, record } = await store.create({ name: 'ops', scopes: ['admin'] });
    expect(record.id).toMatch(/^key_[a-z2-7]{26}$/);
    expect(record.tenantId).toBeNull();
    expect(await answer(apiKey)).toEqual({ valid: true, keyId: record.id, tenantId: '', scopes: ['admin'] });
  });

  it('reports the tenant of a tenant-bound key', async () => {
    const { apiKey, record } = await store.create({
      name: 'acme-ci',
      scopes: ['admin'],
      tenantId: 'ten_abc',
    });
    expect(await answer(apiKey)).toEqual({
      valid: true,
      keyId: record.id,
      tenantId: 'ten_abc',
      scopes: ['admin'],
    });
  });

  it('refuses an unknown key', async () => {
    expect(await answer(generateApiKey())).toEqual(REFUSAL);
  });

  it('refuses a revoked key, and revoking twice reports nothing to revoke', async () => {
    const { apiKey, record } = await store.create({ name: 'old', scopes: ['admin'] });
    expect((await answer(apiKey)).valid).toBe(true);
    expect(await store.revoke(record.id)).toBe(true);
    expect(await answer(apiKey)).toEqual(REFUSAL);
    expect(await store.revoke(record.id)).toBe(false);
  });

  it('refuses a key from the instant it expires (frozen clock)', async () => {
    let clock = new Date('2030-01-01T00:00:00.000Z');
    const timed = createApiKeyStore({ db, now: () => clock });
    const { apiKey } = await timed.create({
      name: 'short-lived',
      scopes: ['admin'],
      expiresAt: new Date('2030-01-01T00:01:00.000Z'),
    });
    clock = new Date('2030-01-01T00:00:59.999Z');
    expect((await timed.verify(apiKey)).valid).toBe(true);
    clock = new Date('2030-01-01T00:01:00.000Z');
    expect(toVerifyApiKeyAnswer(await timed.verify(apiKey))).toEqual(REFUSAL);
  });

  it('refuses malformed keys without telling them apart', async () => {
    const { apiKey } = await store.create({ name: 'shape', scopes: ['admin'] });
    const malformed = [
      '',
      'zm_',
      'zm_short',
      `${apiKey}A`,
      apiKey.slice(0, -1),
      `xx_${apiKey.slice(3)}`,
      ` ${apiKey}`,
      apiKey.toUpperCase(),
      "zm_' OR '1'='1",
      `zm_${'A'.repeat(10_000)}`,
      hashApiKey(apiKey),
    ];
    for (const key of malformed) expect(await answer(key), JSON.stringify(key.slice(0, 20))).toEqual(REFUSAL);
    expect((await answer(apiKey)).valid).toBe(true);
  });
});

describe('storage', () => {
  it('keeps only the SHA-256 of a key: the plaintext appears nowhere in the table', async () => {
    const { apiKey, record } = await store.create({
      name: 'hash-only',
      scopes: ['admin'],
      tenantId: 'ten_x',
    });
    const { rows } = await db.query<{ row: string; key_sha256: string }>(
      'select t::text as row, key_sha256 from token.api_keys t where id = $1',
      [record.id],
    );
    expect(rows).toHaveLength(1);
    expect(rows[0]?.key_sha256).toBe(sha256Hex(apiKey));
    const { rows: all } = await db.query<{ row: string }>('select t::text as row from token.api_keys t');
    const secretPart = apiKey.slice(3);
    for (const { row } of all) {
      expect(row).not.toContain(secretPart);
      expect(row).not.toContain(Buffer.from(secretPart, 'base64url').toString('hex'));
    }
  });
});

describe('bootstrap admin key', () => {
  it('refuses a hash that is not 64 hex characters', async () => {
    await expect(store.ensureBootstrapAdmin('abc')).rejects.toMatchObject({
      code: 'ERR_BOOTSTRAP_HASH_INVALID',
    });
  });

  it('does not bring back a revoked bootstrap key on restart', async () => {
    const key = generateApiKey();
    expect(await store.ensureBootstrapAdmin(hashApiKey(key))).toBe(true);
    const verdict = await store.verify(key);
    if (!verdict.valid) throw new Error('bootstrap key should verify');
    await store.revoke(verdict.keyId);
    expect(await store.ensureBootstrapAdmin(hashApiKey(key).toUpperCase())).toBe(false);
    expect(await answer(key)).toEqual(REFUSAL);
  });
});
