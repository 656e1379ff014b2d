// Property tests (fast-check, fixed seed) for the bff's credential edge: whatever arrives in Authorization —
// random text, mutations of a live API key or of a genuinely signed access token — the answer is the genuine
// caller for exactly the genuine credential, else ApiRefusal 401 `unauthenticated`; never another error (a 500).
import { createAccessTokenVerifier } from '@zenmesh/auth';
import fc from 'fast-check';
import { createLocalJWKSet, exportJWK, generateKeyPair, SignJWT } from 'jose';
import { beforeAll, describe, expect, it } from 'vitest';
import { ApiRefusal } from './api-errors.js';
import { createCallerAuth } from './caller-auth.js';

const RUNS = { seed: 0x5eed_1012, numRuns: 300 };
const ISSUER = 'https://token.test';
const AUDIENCE = 'urn:zenmesh:api';
const NOW = new Date('2026-06-01T12:00:00Z');
const B64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
// The shape the token service issues: zm_ + 43 base64url characters.
const LIVE_KEY = `zm_${'Q'.repeat(20)}k${'7'.repeat(22)}`;

let authenticate: ReturnType<typeof createCallerAuth>;
let genuineJwt: string;

beforeAll(async () => {
  const pair = await generateKeyPair('ES256', { extractable: true });
  const jwk = { ...(await exportJWK(pair.publicKey)), kid: 'k1', alg: 'ES256' };
  const iat = Math.floor(NOW.getTime() / 1000);
  genuineJwt = await new SignJWT({ client_id: 'cli_w', scope: 'events:read', jti: 'j1' })
    .setProtectedHeader({ alg: 'ES256', typ: 'at+jwt', kid: 'k1' })
    .setIssuer(ISSUER)
    .setAudience(AUDIENCE)
    .setSubject('cli_w')
    .setIssuedAt(iat)
    .setExpirationTime(iat + 600)
    .sign(pair.privateKey);
  authenticate = createCallerAuth({
    // As the token service answers: valid for the one issued key, for anything else a plain "no".
    verifyApiKey: async (key) =>
      key === LIVE_KEY
        ? { valid: true, keyId: 'key_live', tenantId: '', scopes: ['admin'] }
        : { valid: false, keyId: '', tenantId: '', scopes: [] },
    verifyAccessToken: createAccessTokenVerifier({
      issuer: ISSUER,
      audience: AUDIENCE,
      keys: createLocalJWKSet({ keys: [jwk] }),
      now: () => NOW,
    }),
  });
});

/** The actor authenticated, or 'refused' for ApiRefusal 401; anything else fails the property. */
async function outcome(authorization: string | undefined): Promise<string> {
  try {
    return (await authenticate(authorization)).actor;
  } catch (err) {
    if (err instanceof ApiRefusal && err.response.status === 401) return 'refused';
    throw new Error(`not a 401 refusal: ${String(err)}`);
  }
}

/** A one-character change at a position (replace, insert or delete). */
const mutate = (s: string, at: number, c: string, op: number): string => {
  const i = at % (s.length + 1);
  if (op === 0) return s.slice(0, i) + c + s.slice(i + 1);
  if (op === 1) return s.slice(0, i) + c + s.slice(i);
  return s.slice(0, i) + s.slice(i + 1);
};
const edit = fc.tuple(
  fc.nat(),
  fc.constantFrom(...`${B64URL}=. ~+/`.split('')),
  fc.integer({ min: 0, max: 2 }),
);

describe('bff caller authentication under arbitrary Authorization headers', () => {
  it('accepts exactly the genuine credentials', async () => {
    expect(await outcome(`Bearer ${LIVE_KEY}`)).toBe('api_key:key_live');
    expect(await outcome(`bearer  ${genuineJwt} `)).toBe('client:cli_w');
  });

  it('refuses arbitrary header values (any scheme, any text) with 401 only', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc.string(),
          fc.string({ unit: 'grapheme' }),
          fc.string().map((s) => `Bearer ${s}`),
          fc.string({ unit: fc.constantFrom(...B64URL.split('')) }).map((s) => `Bearer zm_${s}`),
          fc.tuple(fc.string(), fc.string(), fc.string()).map((p) => `Bearer ${p.join('.')}`),
        ),
        async (header) => {
          const answer = await outcome(header);
          if (header.trim() !== `Bearer ${LIVE_KEY}`) expect(answer).toBe('refused');
        },
      ),
      RUNS,
    );
  });

  it('refuses every one-character change of the live API key and of a genuine access token', async () => {
    await fc.assert(
      fc.asyncProperty(fc.boolean(), edit, async (jwt, [at, c, op]) => {
        const genuine = jwt ? genuineJwt : LIVE_KEY;
        const changed = mutate(genuine, at, c, op);
        const answer = await outcome(`Bearer ${changed}`);
        // Only a change that leaves the credential itself intact (e.g. a trailing space) may still pass, and
        // then as the genuine caller; a JWT segment that decodes to the same bytes is the same token.
        if (answer !== 'refused') {
          const same = (s: string) =>
            s
              .trim()
              .split('.')
              .map((p) => Buffer.from(p, 'base64url').toString('hex'))
              .join('.');
          expect(same(changed)).toBe(same(genuine));
        }
      }),
      RUNS,
    );
  });

  it('refuses no header at all', async () => {
    expect(await outcome(undefined)).toBe('refused');
  });
});
