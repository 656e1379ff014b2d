// Who may introspect what (issue 12, defect 7; RFC 7662 §4), over HTTP with openid-client and over gRPC.
import { Code } from '@zenmesh/rpc';
import * as oidc from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTokenHarness, type TokenHarness } from './test-kit/token-harness.js';

let h: TokenHarness;

beforeAll(async () => {
  h = await startTokenHarness('token_introspect');
});
afterAll(async () => {
  await h?.stop();
});

async function userSession() {
  const { config } = await h.dashboard();
  const user = await h.newUser();
  const verifier = oidc.randomPKCECodeVerifier();
  const { location } = await h.login(config, { username: user.username, verifier });
  const tokens = await oidc.authorizationCodeGrant(config, new URL(location ?? ''), {
    pkceCodeVerifier: verifier,
    expectedState: 'st-1',
  });
  return { config, user, tokens };
}

describe('HTTP /oauth/introspect is restricted to the issuing client and the resource servers', () => {
  it('an unrelated confidential client learns nothing about another client’s tokens', async () => {
    const { config, tokens } = await userSession();
    const stranger = await h.worker();
    expect(await oidc.tokenIntrospection(stranger.config, tokens.access_token)).toEqual({ active: false });
    expect(await oidc.tokenIntrospection(stranger.config, tokens.refresh_token ?? '')).toEqual({
      active: false,
    });
    // The issuing client still gets the full answer.
    expect(await oidc.tokenIntrospection(config, tokens.access_token)).toMatchObject({
      active: true,
      aud: 'urn:zenmesh:api',
    });
    expect((await oidc.tokenIntrospection(config, tokens.refresh_token ?? '')).active).toBe(true);
  });

  it('a client registered as resource server of the token audience may introspect access tokens only', async () => {
    const { tokens, user } = await userSession();
    const rs = await h.worker(['events:read'], { resourceAudiences: ['urn:zenmesh:api'] });
    expect(await oidc.tokenIntrospection(rs.config, tokens.access_token)).toMatchObject({
      active: true,
      sub: user.id,
    });
    expect(await oidc.tokenIntrospection(rs.config, tokens.refresh_token ?? '')).toEqual({ active: false });
    const other = await h.worker(['events:read'], { resourceAudiences: ['urn:other:api'] });
    expect(await oidc.tokenIntrospection(other.config, tokens.access_token)).toEqual({ active: false });
  });

  it('a client may introspect its own client_credentials token', async () => {
    const w = await h.worker();
    const t = await oidc.clientCredentialsGrant(w.config);
    expect(await oidc.tokenIntrospection(w.config, t.access_token)).toMatchObject({
      active: true,
      client_id: w.client.id,
    });
    const stranger = await h.worker();
    expect(await oidc.tokenIntrospection(stranger.config, t.access_token)).toEqual({ active: false });
  });
});

describe('gRPC TokenService.Introspect answers the mesh resource servers (bff, backend)', () => {
  it('describes mesh access tokens to bff and backend, never refresh tokens', async () => {
    const { tokens, user } = await userSession();
    for (const caller of ['bff', 'backend']) {
      const rpc = await h.grpc(caller);
      expect(await rpc.introspect({ token: tokens.access_token })).toMatchObject({
        active: true,
        sub: user.id,
      });
      const refresh = await rpc.introspect({ token: tokens.refresh_token ?? '' });
      expect(refresh.active).toBe(false);
      expect(refresh.sub).toBe('');
    }
  });

  it('refuses a workload outside the policy before any introspection', async () => {
    const { tokens } = await userSession();
    const rpc = await h.grpc('ingester');
    await expect(rpc.introspect({ token: tokens.access_token })).rejects.toMatchObject({
      code: Code.PERMISSION_DENIED,
      reason: 'spiffe_id_not_allowed',
    });
  });
});
