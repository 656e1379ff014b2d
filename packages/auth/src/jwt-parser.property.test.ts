// Property tests (fast-check, fixed seed) for the JWT edge: whatever bytes arrive as an access token, the
// verifier answers with one of its own refusal codes — never a crash, never "keys unavailable" for what is
// merely a bad token, and never a principal unless the token is the genuine one.
import fc from 'fast-check';
import { createLocalJWKSet, exportJWK, generateKeyPair, SignJWT } from 'jose';
import { beforeAll, describe, expect, it } from 'vitest';
import { type AccessTokenVerifier, createAccessTokenVerifier } from './access-token-verifier.js';
import { isAuthError } from './errors.js';
import { bearerCredential } from './forwarded-token.js';

const SEED = 0x5eed_1012;
const RUNS = { seed: SEED, numRuns: 300 };
const ISSUER = 'https://token.test';
const AUDIENCE = 'urn:zenmesh:api';
const NOW = new Date('2026-06-01T12:00:00Z');
const iat = Math.floor(NOW.getTime() / 1000);

let verify: AccessTokenVerifier;
let genuine: string;
let privateKey: Awaited<ReturnType<typeof generateKeyPair>>['privateKey'];

const claims = { client_id: 'cli_test', scope: 'events:read', jti: 'jti-1' };
const sign = (payload: Record<string, unknown>, header: Record<string, unknown> = {}) =>
  new SignJWT(payload)
    .setProtectedHeader({ alg: 'ES256', typ: 'at+jwt', kid: 'k1', ...header } as { alg: string })
    .sign(privateKey);

beforeAll(async () => {
  const pair = await generateKeyPair('ES256', { extractable: true });
  privateKey = pair.privateKey;
  const jwk = { ...(await exportJWK(pair.publicKey)), kid: 'k1', alg: 'ES256' };
  verify = createAccessTokenVerifier({
    issuer: ISSUER,
    audience: AUDIENCE,
    keys: createLocalJWKSet({ keys: [jwk] }),
    now: () => NOW,
  });
  genuine = await sign({ ...claims, iss: ISSUER, aud: AUDIENCE, sub: 'usr_x', iat, exp: iat + 600 });
});

/** The refusal code of a rejected token; fails the property on acceptance or on a foreign exception. */
async function refusal(token: string): Promise<string> {
  try {
    await verify(token);
  } catch (err) {
    if (!isAuthError(err)) throw new Error(`not an AuthError: ${String(err)}`);
    return err.code;
  }
  return 'accepted';
}

const b64 = (s: string) => Buffer.from(s).toString('base64url');
const segment = fc.string({
  unit: fc.constantFrom(...'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'.split('')),
});

describe('access-token verifier under arbitrary input', () => {
  it('refuses arbitrary strings as ERR_TOKEN_INVALID', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc.string(),
          fc.string({ unit: 'binary' }),
          fc.tuple(segment, segment, segment).map((p) => p.join('.')),
        ),
        async (t) => {
          expect(await refusal(t)).toBe('ERR_TOKEN_INVALID');
        },
      ),
      RUNS,
    );
  });

  it('refuses well-formed JWTs with arbitrary JSON header and claims and a junk signature', async () => {
    await fc.assert(
      fc.asyncProperty(fc.jsonValue(), fc.jsonValue(), segment, async (header, payload, sig) => {
        const t = `${b64(JSON.stringify(header))}.${b64(JSON.stringify(payload))}.${sig}`;
        expect(await refusal(t)).toBe('ERR_TOKEN_INVALID');
      }),
      RUNS,
    );
  });

  it('refuses every one-character change of a genuine token, unless it decodes to the same bytes', async () => {
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.';
    await fc.assert(
      fc.asyncProperty(
        fc.nat({ max: genuine.length - 1 }),
        fc.constantFrom(...alphabet.split('')),
        async (i, c) => {
          fc.pre(genuine[i] !== c);
          const t = genuine.slice(0, i) + c + genuine.slice(i + 1);
          const outcome = await refusal(t);
          if (outcome === 'accepted') {
            // Only a change in the unused low bits of a segment's last character can decode identically.
            const bytes = (s: string) => s.split('.').map((p) => Buffer.from(p, 'base64url').toString('hex'));
            expect(bytes(t)).toEqual(bytes(genuine));
          } else expect(outcome).toBe('ERR_TOKEN_INVALID');
        },
      ),
      RUNS,
    );
  });

  it('refuses genuinely signed tokens that break one rule: typ, iss, aud, claim types, expiry', async () => {
    const notIn = (...bad: string[]) => fc.string().filter((v) => !bad.includes(v.toLowerCase()));
    const breakage = fc.oneof(
      notIn('at+jwt', 'application/at+jwt').map((typ) => ({
        header: { typ },
        payload: {},
        code: 'ERR_TOKEN_INVALID',
      })),
      notIn(ISSUER).map((iss) => ({ header: {}, payload: { iss }, code: 'ERR_TOKEN_INVALID' })),
      fc
        .oneof(notIn(AUDIENCE), fc.array(notIn(AUDIENCE)))
        .map((aud) => ({ header: {}, payload: { aud }, code: 'ERR_TOKEN_INVALID' })),
      fc
        .oneof(fc.integer(), fc.boolean(), fc.constant(null), fc.array(fc.string()))
        .chain((v) =>
          fc.constantFrom(
            { header: {}, payload: { client_id: v }, code: 'ERR_TOKEN_INVALID' },
            { header: {}, payload: { sub: v }, code: 'ERR_TOKEN_INVALID' },
            { header: {}, payload: { jti: v }, code: 'ERR_TOKEN_INVALID' },
          ),
        ),
      // Past the 5 s clock tolerance.
      fc
        .integer({ min: 6, max: 10 ** 6 })
        .map((ago) => ({ header: {}, payload: { exp: iat - ago }, code: 'ERR_TOKEN_EXPIRED' })),
    );
    await fc.assert(
      fc.asyncProperty(breakage, async ({ header, payload, code }) => {
        const t = await sign(
          { ...claims, iss: ISSUER, aud: AUDIENCE, sub: 'usr_x', iat, exp: iat + 600, ...payload },
          header,
        );
        expect(await refusal(t)).toBe(code);
      }),
      RUNS,
    );
  });

  it('accepts the genuine token', async () => {
    expect(await refusal(genuine)).toBe('accepted');
  });
});

describe('bearerCredential (RFC 6750 §2.1)', () => {
  it('returns null or one credential without whitespace, for any header value', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary' }), (h) => {
        const c = bearerCredential(h);
        expect(c === null || (c.length > 0 && !/\s/.test(c))).toBe(true);
      }),
      RUNS,
    );
  });

  it('round-trips any token68 credential under any casing of the scheme', () => {
    const token68 = fc.string({
      unit: fc.constantFrom(
        ...'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~+/='.split(''),
      ),
      minLength: 1,
    });
    const scheme = fc.constantFrom('Bearer', 'bearer', 'BEARER', 'bEaReR');
    fc.assert(
      fc.property(scheme, token68, fc.integer({ min: 1, max: 3 }), (s, t, spaces) => {
        expect(bearerCredential(`${s}${' '.repeat(spaces)}${t}`)).toBe(t);
        expect(bearerCredential(`Basic ${t}`)).toBeNull();
      }),
      RUNS,
    );
  });
});
