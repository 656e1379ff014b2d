// Property tests (fast-check, fixed seed) for the API-key edge: the format check and the store's verify
// against the real database. Whatever string arrives as a key, only the exact key that was issued verifies.
import { createDatabase, createScratchDatabase, type Db, type ScratchDatabase } from '@zenmesh/db';
import { createLogger } from '@zenmesh/telemetry';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { API_KEY_PREFIX, generateApiKey, isWellFormedApiKey } from './api-key.js';
import type { ApiKeyStore } from './api-key-store.js';
import { openTokenStore } from './token-service.js';

const RUNS = { seed: 0x5eed_1012, numRuns: 200 };
const B64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

let scratch: ScratchDatabase;
let db: Db;
let store: ApiKeyStore;
let live: string;

beforeAll(async () => {
  scratch = await createScratchDatabase(process.env.DATABASE_URL ?? '', 'zm_test_token_keyprop');
  db = await createDatabase({ url: scratch.url });
  store = await openTokenStore({ db, logger: createLogger('token-keyprop', { level: 'silent' }) });
  ({ apiKey: live } = await store.create({
    name: 'live',
    scopes: ['events:read'],
    tenantId: null,
    expiresAt: null,
  }));
});
afterAll(async () => {
  await db?.close();
  await scratch?.drop();
});

describe('API key format (isWellFormedApiKey)', () => {
  it('accepts zm_ + the unpadded base64url of any 32 bytes, and it decodes back to those bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), (bytes) => {
        const key = `${API_KEY_PREFIX}${Buffer.from(bytes).toString('base64url')}`;
        expect(isWellFormedApiKey(key)).toBe(true);
        expect(Buffer.from(key.slice(3), 'base64url').equals(Buffer.from(bytes))).toBe(true);
      }),
      RUNS,
    );
  });

  it('refuses the encoding of any other length, another prefix, and padding or whitespace', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 0, maxLength: 64 }).filter((b) => b.length !== 32),
        fc.constantFrom('zm_', 'ZM_', 'zm-', 'zk_', ''),
        (bytes, prefix) => {
          expect(isWellFormedApiKey(`${prefix}${Buffer.from(bytes).toString('base64url')}`)).toBe(false);
        },
      ),
      RUNS,
    );
    const key = generateApiKey();
    for (const variant of [
      ` ${key}`,
      `${key} `,
      `${key}\n`,
      `${key}=`,
      key.toUpperCase(),
      `Zm_${key.slice(3)}`,
    ])
      expect(isWellFormedApiKey(variant)).toBe(false);
  });

  it('only canonical encodings pass: a last character with stray low bits is refused', () => {
    fc.assert(
      fc.property(fc.constantFrom(...B64URL.split('')), (last) => {
        const key = `${generateApiKey().slice(0, -1)}${last}`;
        const canonical =
          Buffer.from(Buffer.from(key.slice(3), 'base64url')).toString('base64url') === key.slice(3);
        expect(isWellFormedApiKey(key)).toBe(canonical);
      }),
      RUNS,
    );
  });
});

describe('ApiKeyStore.verify under arbitrary input', () => {
  it('never throws and refuses any string that is not the issued key', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc.string(),
          fc.string({ unit: 'binary', maxLength: 5000 }),
          fc
            .string({ unit: fc.constantFrom(...B64URL.split('')), minLength: 43, maxLength: 43 })
            .map((s) => `zm_${s}`),
        ),
        async (candidate) => {
          fc.pre(candidate !== live);
          expect(await store.verify(candidate)).toEqual({ valid: false });
        },
      ),
      RUNS,
    );
  });

  it('refuses every one-character change of a live key', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.nat({ max: live.length - 1 }),
        fc.constantFrom(...`${B64URL}=. `.split('')),
        async (i, c) => {
          fc.pre(live[i] !== c);
          expect(await store.verify(live.slice(0, i) + c + live.slice(i + 1))).toEqual({ valid: false });
        },
      ),
      RUNS,
    );
    expect(await store.verify(live)).toMatchObject({ valid: true, scopes: ['events:read'] });
  });
});
