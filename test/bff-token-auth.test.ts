import { create } from '@bufbuild/protobuf';
import {
  createAccessTokenVerifier,
  createForwardedTokenAuthorizer,
  createIntrospectionRevocationCheck,
  type Principal,
} from '@zenmesh/auth';
import { type BackendClients, type BffApp, createBffApp, createTokenAuth } from '@zenmesh/bff';
import { ListEventsResponseSchema, ListTenantsResponseSchema, TokenService } from '@zenmesh/proto';
import { type CallOptions, Code } from '@zenmesh/rpc';
import { createLogger } from '@zenmesh/telemetry';
import { generateApiKey, hashApiKey, type RunningTokenService } from '@zenmesh/token';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bffApi, clientCredentials, createMeshFixture, type MeshFixture } from './support/mesh-fixture.js';
import { describedApi } from './support/openapi-validator.js';

const TENANT = 'ten_aaaaaaaaaaaaaaaaaaaaaaaaaa';
const OTHER = 'ten_bbbbbbbbbbbbbbbbbbbbbbbbbb';
const logger = createLogger('bff-token-test', { level: 'silent' });

let fixture: MeshFixture;
let token: RunningTokenService;
let app: BffApp;
let base: string;
const adminKey = generateApiKey();
/** What the in-test backend saw: the principal of each forwarded token, or the refusal. */
const seen: Array<{ principal?: Principal; token?: string; refusal?: string }> = [];
let backendAuth: ReturnType<typeof createForwardedTokenAuthorizer>;
let backendVerifyAt: (token: string, at: Date) => Promise<Principal>;

beforeAll(async () => {
  fixture = await createMeshFixture('bff-token', { logger });
  token = await fixture.startToken({ bootstrapAdminKeySha256: hashApiKey(adminKey) });
  const issuer = token.oauth?.issuer ?? '';
  const bffChannel = await fixture.channel('bff', 'token', token.ready.grpc);
  const backendChannel = await fixture.channel('backend', 'token', token.ready.grpc);
  const bffTokens = bffChannel.client(TokenService);
  const backendTokens = backendChannel.client(TokenService);

  // The backend's side, as it should be wired: JWKS verification + introspection for revocation.
  const backendRevocation = createIntrospectionRevocationCheck({
    introspect: (t) => backendTokens.introspect({ token: t }),
    cacheTtlMs: 0,
  });
  backendAuth = createForwardedTokenAuthorizer(
    createAccessTokenVerifier({ issuer, audience: 'urn:zenmesh:api', isRevoked: backendRevocation }),
  );
  backendVerifyAt = (t, at) =>
    createAccessTokenVerifier({ issuer, audience: 'urn:zenmesh:api', now: () => at })(t);
  const check = async (o: CallOptions | undefined, scopes: string[], tenant?: string) => {
    const header = (n: string) => o?.metadata?.[n];
    const t = header('authorization')?.slice(7);
    try {
      const principal =
        tenant === undefined
          ? await backendAuth.authorize({ header }, scopes)
          : await backendAuth.authorizeTenant({ header }, scopes, tenant);
      seen.push({ principal, ...(t === undefined ? {} : { token: t }) });
    } catch (err) {
      seen.push({ refusal: (err as { reason?: string }).reason ?? 'error' });
      throw err;
    }
  };
  const backend = {
    tenants: {
      async listTenants(_req: unknown, o?: CallOptions) {
        await check(o, ['admin']);
        return create(ListTenantsResponseSchema, { tenants: [] });
      },
    },
    events: {
      async listEvents(req: { tenant?: string }, o?: CallOptions) {
        await check(o, ['events:read'], req.tenant ?? '');
        return create(ListEventsResponseSchema, { events: [] });
      },
    },
  } as unknown as BackendClients;

  app = createBffApp({
    logger,
    backend,
    ...createTokenAuth(bffTokens, { issuer, revocationCacheMs: 0 }),
    authCacheTtlMs: 0,
  });
  base = await app.listen('127.0.0.1:0');
  fixture.defer(() => app.close());
});

afterAll(() => fixture?.stop());

// Every answer is checked against the OpenAPI document this bff serves (openapi-validator.ts).
const api = describedApi(
  () => base,
  bffApi(() => base),
);

async function clientToken(scopes: string[], tenantId: string | null, scope?: string) {
  const c = await clientCredentials(token, scopes, tenantId, scope);
  return { ...c.body, clientId: c.clientId, clientSecret: c.clientSecret };
}

describe('API keys through the bff', () => {
  it('creates a scoped key (shown once), forwards an exchanged token the backend verifies, enforces scopes', async () => {
    const created = await api('POST', '/api/v1/api-keys', adminKey, {
      name: 'reader',
      scopes: ['events:read'],
      tenantId: TENANT,
    });
    expect(created.status).toBe(201);
    const key = created.body.apiKey as string;
    expect(key).toMatch(/^zm_/);
    expect(created.body.key).toMatchObject({ tenantId: TENANT, scopes: ['events:read'], revokedAt: null });
    expect(JSON.stringify((await api('GET', '/api/v1/api-keys', adminKey)).body)).not.toContain(key);

    expect((await api('GET', `/api/v1/tenants/${TENANT}/events`, key)).status).toBe(200);
    const forwarded = seen.at(-1);
    expect(forwarded?.principal).toMatchObject({
      keyId: (created.body.key as { id: string }).id,
      tenantId: TENANT,
      scopes: ['events:read'],
    });
    expect(
      await api('POST', `/api/v1/tenants/${TENANT}/endpoints`, key, { url: 'https://x.example' }),
    ).toEqual({ status: 403, body: { error: 'forbidden' } });
    expect(await api('GET', `/api/v1/tenants/${OTHER}/events`, key)).toEqual({
      status: 403,
      body: { error: 'forbidden' },
    });
    expect(await api('GET', '/api/v1/api-keys', key)).toEqual({ status: 403, body: { error: 'forbidden' } });
  });

  it('refuses an empty scope list at creation; an existing empty-scope key can do nothing', async () => {
    expect((await api('POST', '/api/v1/api-keys', adminKey, { name: 'none', scopes: [] })).status).toBe(400);
    const { apiKey } = await token.store.create({ name: 'legacy-empty', scopes: [] });
    expect(await api('GET', `/api/v1/tenants/${TENANT}/events`, apiKey)).toEqual({
      status: 403,
      body: { error: 'forbidden' },
    });
  });

  it('a revoked key is refused by the bff and its forwarded token by the backend at once', async () => {
    const created = await api('POST', '/api/v1/api-keys', adminKey, {
      name: 'soon-gone',
      scopes: ['events:read'],
    });
    const key = created.body.apiKey as string;
    expect((await api('GET', `/api/v1/tenants/${TENANT}/events`, key)).status).toBe(200);
    const exchanged = seen.at(-1)?.token ?? '';
    const id = (created.body.key as { id: string }).id;
    const revoked = await api('POST', `/api/v1/api-keys/${id}/revoke`, adminKey);
    expect(revoked.status).toBe(200);
    expect((revoked.body.key as { revokedAt: string | null }).revokedAt).not.toBeNull();
    expect(await api('GET', `/api/v1/tenants/${TENANT}/events`, key)).toEqual({
      status: 401,
      body: { error: 'unauthenticated' },
    });
    const header = (n: string) => (n === 'authorization' ? `Bearer ${exchanged}` : undefined);
    await expect(backendAuth.authorize({ header }, ['events:read'])).rejects.toMatchObject({
      code: Code.UNAUTHENTICATED,
      reason: 'revoked_user_token',
    });
  });

  it('a tenant key admin cannot mint keys for another tenant or with scopes it lacks', async () => {
    const { apiKey } = await token.store.create({
      name: 'tenant-keys',
      scopes: ['keys:admin', 'events:read'],
      tenantId: TENANT,
    });
    expect(
      await api('POST', '/api/v1/api-keys', apiKey, { name: 'x', scopes: ['events:read'], tenantId: OTHER }),
    ).toEqual({ status: 403, body: { error: 'forbidden' } });
    expect(await api('POST', '/api/v1/api-keys', apiKey, { name: 'x', scopes: ['events:write'] })).toEqual({
      status: 403,
      body: { error: 'forbidden' },
    });
    const ok = await api('POST', '/api/v1/api-keys', apiKey, { name: 'x', scopes: ['events:read'] });
    expect(ok.status).toBe(201);
    expect((ok.body.key as { tenantId: string }).tenantId).toBe(TENANT);
  });
});

describe('bearer access tokens through the bff', () => {
  it('accepts a JWT with the route scope, forwards it as is, and refuses one without', async () => {
    const t = await clientToken(['events:read', 'events:write'], TENANT, 'events:read');
    expect((await api('GET', `/api/v1/tenants/${TENANT}/events`, t.access_token)).status).toBe(200);
    expect(seen.at(-1)?.token).toBe(t.access_token);
    expect(
      await api('POST', `/api/v1/tenants/${TENANT}/endpoints`, t.access_token, { url: 'https://x.example' }),
    ).toEqual({ status: 403, body: { error: 'forbidden' } });
    expect(await api('GET', '/api/v1/tenants', t.access_token)).toEqual({
      status: 403,
      body: { error: 'forbidden' },
    });
  });

  it('refuses a revoked token at the bff and the backend, and an expired one at the backend', async () => {
    const t = await clientToken(['events:read'], null);
    expect((await api('GET', `/api/v1/tenants/${TENANT}/events`, t.access_token)).status).toBe(200);
    const later = new Date(Date.now() + 16 * 60_000);
    await expect(backendVerifyAt(t.access_token, later)).rejects.toMatchObject({ code: 'ERR_TOKEN_EXPIRED' });
    await fetch(`${token.oauth?.issuer}/oauth/revoke`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        token: t.access_token,
        client_id: t.clientId,
        client_secret: t.clientSecret,
      }),
    });
    expect(await api('GET', `/api/v1/tenants/${TENANT}/events`, t.access_token)).toEqual({
      status: 401,
      body: { error: 'unauthenticated' },
    });
    const header = (n: string) => (n === 'authorization' ? `Bearer ${t.access_token}` : undefined);
    await expect(backendAuth.authorize({ header }, ['events:read'])).rejects.toMatchObject({
      code: Code.UNAUTHENTICATED,
      reason: 'revoked_user_token',
    });
    await expect(backendAuth.authorize({ header: () => undefined }, [])).rejects.toMatchObject({
      reason: 'missing_user_token',
    });
  });

  it('rotates signing keys through the bff (admin only); new tokens verify at once', async () => {
    const before = await api('GET', '/api/v1/token/keys', adminKey);
    const next = (before.body.keys as Array<{ kid: string; state: string }>).find((k) => k.state === 'next');
    const rotated = await api('POST', '/api/v1/token/keys/rotate', adminKey);
    expect(rotated.status).toBe(200);
    expect(
      (rotated.body.keys as Array<{ kid: string; state: string }>).find((k) => k.state === 'current')?.kid,
    ).toBe(next?.kid);
    const t = await clientToken(['events:read'], null);
    expect((await api('GET', `/api/v1/tenants/${TENANT}/events`, t.access_token)).status).toBe(200);
    expect(await api('POST', '/api/v1/token/keys/rotate', t.access_token)).toEqual({
      status: 403,
      body: { error: 'forbidden' },
    });
  });
});

describe('the OpenAPI document of the token-admin routes', () => {
  it('describes every answer, and each route answered a described success in this file', async () => {
    // The one route the tests above leave out: rotating the signing key.
    expect((await api('POST', '/api/v1/token/keys/rotate', adminKey)).status).toBe(200);
    const doc = api.doc();
    if (doc === undefined) throw new Error('no call was made');
    const ops = Object.entries(doc.paths).flatMap(([path, item]) =>
      Object.entries(item)
        .filter(([, op]) => /^\/api\/v1\/(api-keys|token\/keys)/.test(path) && op !== undefined)
        .map(([method, op]) => ({
          key: `${method.toUpperCase()} ${path}`,
          statuses: Object.keys(op.responses),
        })),
    );
    expect(ops).toHaveLength(5);
    for (const op of ops) {
      expect([op.key, op.statuses.includes('2XX')]).toEqual([op.key, false]);
      const success = op.statuses.find((s) => s.startsWith('2'));
      expect([op.key, api.answered.has(`${op.key} ${success}`)]).toEqual([op.key, true]);
    }
  });
});
