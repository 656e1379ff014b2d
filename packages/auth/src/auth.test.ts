import { createLocalJWKSet, exportJWK, generateKeyPair, SignJWT } from 'jose';
import { describe, expect, it } from 'vitest';
import { createAccessTokenVerifier } from './access-token-verifier.js';
import { createForwardedTokenAuthorizer } from './forwarded-token.js';
import { createIntrospectionRevocationCheck } from './revocation-check.js';
import { hasScopes, parseScope, ROLE_SCOPES, roleAtLeast } from './scopes.js';

const ISS = 'http://127.0.0.1:4000';
const AUD = 'urn:zenmesh:api';

async function signer() {
  const { privateKey, publicKey } = await generateKeyPair('ES256');
  const jwk = { ...(await exportJWK(publicKey)), kid: 'k1', alg: 'ES256' };
  const keys = createLocalJWKSet({ keys: [jwk] });
  const sign = (claims: Record<string, unknown>, header: Record<string, string> = {}) =>
    new SignJWT({ client_id: 'c1', scope: 'events:read', jti: `j${Math.random()}`, ...claims })
      .setProtectedHeader({ alg: 'ES256', kid: 'k1', typ: 'at+jwt', ...header })
      .setIssuer(ISS)
      .setAudience(AUD)
      .setSubject('s1')
      .setIssuedAt()
      .setExpirationTime('5m')
      .sign(privateKey);
  return { keys, sign };
}

describe('scopes', () => {
  it('treats admin as the super-scope and an empty grant as nothing', () => {
    expect(hasScopes(['admin'], ['keys:admin', 'events:write'])).toBe(true);
    expect(hasScopes([], ['events:read'])).toBe(false);
    expect(hasScopes(['events:read'], ['events:read'])).toBe(true);
    expect(hasScopes(['events:read'], ['events:write'])).toBe(false);
    expect(parseScope(' a  b a ')).toEqual(['a', 'b']);
  });

  it('orders roles admin > operator > reader, each a superset of the one below', () => {
    expect(roleAtLeast('admin', 'operator')).toBe(true);
    expect(roleAtLeast('reader', 'operator')).toBe(false);
    for (const s of ROLE_SCOPES.reader) expect(ROLE_SCOPES.operator).toContain(s);
    for (const s of ROLE_SCOPES.operator) expect(ROLE_SCOPES.admin).toContain(s);
    expect(ROLE_SCOPES.operator).not.toContain('keys:admin');
  });
});

describe('createAccessTokenVerifier', () => {
  it('cannot be configured with HS* or none', () => {
    for (const alg of ['HS256', 'none', 'PS999']) {
      expect(() =>
        createAccessTokenVerifier({ issuer: ISS, audience: AUD, algorithms: [alg as 'ES256'] }),
      ).toThrow(TypeError);
    }
  });

  it('requires typ at+jwt', async () => {
    const { keys, sign } = await signer();
    const verify = createAccessTokenVerifier({ issuer: ISS, audience: AUD, keys });
    await expect(verify(await sign({}))).resolves.toMatchObject({ subject: 's1', scopes: ['events:read'] });
    await expect(verify(await sign({}, { typ: 'JWT' }))).rejects.toMatchObject({ code: 'ERR_TOKEN_INVALID' });
  });

  it('requires client_id and jti (RFC 9068 §2.2)', async () => {
    const { keys, sign } = await signer();
    const verify = createAccessTokenVerifier({ issuer: ISS, audience: AUD, keys });
    await expect(verify(await sign({ client_id: undefined }))).rejects.toMatchObject({
      code: 'ERR_TOKEN_INVALID',
    });
  });

  it('consults the revocation check, and the check caches active answers only', async () => {
    const { keys, sign } = await signer();
    let active = true;
    let asked = 0;
    let clock = 1_000;
    const isRevoked = createIntrospectionRevocationCheck({
      introspect: async () => {
        asked++;
        return { active };
      },
      cacheTtlMs: 5_000,
      now: () => clock,
    });
    const verify = createAccessTokenVerifier({ issuer: ISS, audience: AUD, keys, isRevoked });
    const token = await sign({});
    await verify(token);
    await verify(token);
    expect(asked).toBe(1);
    active = false;
    clock += 5_000;
    await expect(verify(token)).rejects.toMatchObject({ code: 'ERR_TOKEN_REVOKED' });
  });
});

describe('createForwardedTokenAuthorizer', () => {
  it('maps refusals to gRPC codes and reasons', async () => {
    const { keys, sign } = await signer();
    const auth = createForwardedTokenAuthorizer(
      createAccessTokenVerifier({ issuer: ISS, audience: AUD, keys }),
    );
    const ctx = (v?: string) => ({ header: (n: string) => (n === 'authorization' ? v : undefined) });
    await expect(auth.authorize(ctx(), [])).rejects.toMatchObject({ code: 16, reason: 'missing_user_token' });
    await expect(auth.authorize(ctx('Bearer x.y.z'), [])).rejects.toMatchObject({
      code: 16,
      reason: 'invalid_user_token',
    });
    const t = await sign({ tenant_id: 'ten_a' });
    await expect(auth.authorize(ctx(`Bearer ${t}`), ['events:write'])).rejects.toMatchObject({
      code: 7,
      reason: 'insufficient_scope',
    });
    await expect(auth.authorizeTenant(ctx(`Bearer ${t}`), ['events:read'], 'ten_b')).rejects.toMatchObject({
      code: 7,
      reason: 'tenant_not_allowed',
    });
    await expect(auth.authorizeTenant(ctx(`Bearer ${t}`), ['events:read'], 'ten_a')).resolves.toMatchObject({
      tenantId: 'ten_a',
    });
  });
});
