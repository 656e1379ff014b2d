import {
  createAccessTokenVerifier,
  createForwardedTokenAuthorizer,
  createIntrospectionRevocationCheck,
} from '@zenmesh/auth';
import { spiffeIdFor } from '@zenmesh/pki';
import {
  AuditService,
  DeliveryService,
  EndpointService,
  EventService,
  SourceService,
  TenantService,
  TokenService,
} from '@zenmesh/proto';
import { Code, type MeshChannel } from '@zenmesh/rpc';
import type { RunningTokenService } from '@zenmesh/token';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clientCredentials, createMeshFixture, type MeshFixture, TD } from './support/mesh-fixture.js';

// Issue #7, backend side: every handler the bff calls verifies the user's forwarded access token (real
// token service, real JWKS, real introspection) over real mutual TLS, before anything else.
let fixture: MeshFixture;
let token: RunningTokenService;
let bff: MeshChannel;
let ingester: MeshChannel;
/** The backend's clock offset (ms): moved forward to see a token expire without waiting. */
let skewMs = 0;
let acme = '';
let globex = '';

const bearer = (t: string) => ({ metadata: { authorization: `Bearer ${t}` } });

async function clientToken(scopes: string[], tenantId: string | null) {
  const c = await clientCredentials(token, scopes, tenantId);
  return { token: c.body.access_token, clientId: c.clientId, clientSecret: c.clientSecret };
}

beforeAll(async () => {
  fixture = await createMeshFixture('backend-user-auth');
  token = await fixture.startToken();
  // Wired as main.ts wires it: the backend's own mTLS channel to the token service for Introspect.
  const tokens = (await fixture.channel('backend', 'token', token.ready.grpc)).client(TokenService);
  const userAuth = createForwardedTokenAuthorizer(
    createAccessTokenVerifier({
      issuer: token.oauth?.issuer ?? '',
      audience: 'urn:zenmesh:api',
      isRevoked: createIntrospectionRevocationCheck({
        introspect: (t) => tokens.introspect({ token: t }),
        cacheTtlMs: 0,
      }),
      now: () => new Date(Date.now() + skewMs),
    }),
  );
  const { address } = await fixture.startBackend({ userAuth });
  bff = await fixture.channel('bff', 'backend', address);
  ingester = await fixture.channel('ingester', 'backend', address);

  const admin = await clientToken(['admin'], null);
  const tenants = bff.client(TenantService);
  acme = (await tenants.createTenant({ name: 'acme' }, bearer(admin.token))).tenant?.id ?? '';
  globex = (await tenants.createTenant({ name: 'globex' }, bearer(admin.token))).tenant?.id ?? '';
}, 60_000);

afterAll(() => fixture?.stop());

describe('forwarded user tokens at the backend', () => {
  it('refuses a call without a token with UNAUTHENTICATED missing_user_token, on every bff-facing service', async () => {
    const calls: Array<Promise<unknown>> = [
      bff.client(TenantService).createTenant({ name: 'nobody' }),
      bff.client(TenantService).listTenants({}),
      bff.client(SourceService).listSources({ tenant: 'acme' }),
      bff.client(SourceService).rotateSourceSecret({ tenant: 'acme', sourceId: 'src_x', secret: 'y' }),
      bff.client(EndpointService).listEndpoints({ tenant: 'acme' }),
      bff.client(EventService).listEvents({ tenant: 'acme' }),
      bff.client(DeliveryService).listDeliveries({ tenant: 'acme' }),
      bff.client(DeliveryService).replayEvent({ tenant: 'acme', eventId: 'evt_x' }),
      bff.client(AuditService).verifyAudit({ tenant: '' }),
      bff.client(TenantService).createTenant({ name: 'x' }, bearer('not-a-jwt')),
    ];
    const reasons = await Promise.all(
      calls.map((c) =>
        c.then(
          () => 'ok',
          (e: { code: Code; reason: string }) => `${e.code}:${e.reason}`,
        ),
      ),
    );
    expect(reasons).toEqual([
      ...Array(9).fill(`${Code.UNAUTHENTICATED}:missing_user_token`),
      `${Code.UNAUTHENTICATED}:invalid_user_token`,
    ]);
    // Nothing was created by the refused calls.
    const admin = await clientToken(['admin'], null);
    const { tenants } = await bff.client(TenantService).listTenants({}, bearer(admin.token));
    expect(tenants.map((t) => t.name).sort()).toEqual(['acme', 'globex']);
  });

  it('refuses a token without the scope with PERMISSION_DENIED insufficient_scope', async () => {
    const reader = await clientToken(['events:read', 'sources:read'], acme);
    await expect(
      bff
        .client(EndpointService)
        .createEndpoint({ tenant: acme, url: 'https://a.example/' }, bearer(reader.token)),
    ).rejects.toMatchObject({ code: Code.PERMISSION_DENIED, reason: 'insufficient_scope' });
    await expect(
      bff
        .client(SourceService)
        .createSource({ tenant: acme, provider: 'github', secret: 's' }, bearer(reader.token)),
    ).rejects.toMatchObject({ code: Code.PERMISSION_DENIED, reason: 'insufficient_scope' });
    await expect(
      bff.client(DeliveryService).replayDelivery({ tenant: acme, deliveryId: 'dlv_x' }, bearer(reader.token)),
    ).rejects.toMatchObject({ code: Code.PERMISSION_DENIED, reason: 'insufficient_scope' });
    await expect(
      bff.client(AuditService).listAudit({ tenant: acme }, bearer(reader.token)),
    ).rejects.toMatchObject({ code: Code.PERMISSION_DENIED, reason: 'insufficient_scope' });
    // The scopes it has work.
    expect(
      (await bff.client(EventService).listEvents({ tenant: acme }, bearer(reader.token))).events,
    ).toEqual([]);
  });

  it('refuses a token bound to another tenant with tenant_not_allowed, by id, by name and for unknown names', async () => {
    const other = await clientToken(['admin'], globex);
    for (const tenant of [acme, 'acme', 'no-such-tenant', 'ten_aaaaaaaaaaaaaaaaaaaaaaaaaa']) {
      await expect(
        bff.client(SourceService).listSources({ tenant }, bearer(other.token)),
        tenant,
      ).rejects.toMatchObject({ code: Code.PERMISSION_DENIED, reason: 'tenant_not_allowed' });
    }
    // Cluster-level calls need a cluster-wide principal; a tenant-bound one lists only its own tenant.
    await expect(
      bff.client(TenantService).createTenant({ name: 'sneaky' }, bearer(other.token)),
    ).rejects.toMatchObject({ code: Code.PERMISSION_DENIED, reason: 'cluster_principal_required' });
    await expect(
      bff.client(AuditService).verifyAudit({ tenant: '' }, bearer(other.token)),
    ).rejects.toMatchObject({ code: Code.PERMISSION_DENIED, reason: 'cluster_principal_required' });
    const { tenants } = await bff.client(TenantService).listTenants({}, bearer(other.token));
    expect(tenants.map((t) => t.id)).toEqual([globex]);
    // Its own tenant, by id or by name, works, and the audit row names the verified client.
    const created = await bff.client(SourceService).createSource(
      {
        tenant: 'globex',
        provider: 'github',
        secret: 's',
        audit: { actor: 'api_key:forged', ip: '192.0.2.9', userAgent: 'ua' },
      },
      bearer(other.token),
    );
    expect(created.source?.tenantId).toBe(globex);
    const { entries } = await bff.client(AuditService).listAudit({ tenant: globex }, bearer(other.token));
    expect(entries.at(-1)).toMatchObject({
      action: 'source.create',
      actor: `client:${other.clientId}`,
      ip: '192.0.2.9',
      via: spiffeIdFor('bff', TD),
    });
    expect((await bff.client(AuditService).verifyAudit({ tenant: 'globex' }, bearer(other.token))).ok).toBe(
      true,
    );
  });

  it('refuses an expired token with expired_user_token and a revoked one with revoked_user_token', async () => {
    const t = await clientToken(['events:read'], null);
    expect((await bff.client(EventService).listEvents({ tenant: acme }, bearer(t.token))).events).toEqual([]);
    skewMs = 16 * 60_000;
    try {
      await expect(
        bff.client(EventService).listEvents({ tenant: acme }, bearer(t.token)),
      ).rejects.toMatchObject({ code: Code.UNAUTHENTICATED, reason: 'expired_user_token' });
    } finally {
      skewMs = 0;
    }
    await fetch(`${token.oauth?.issuer}/oauth/revoke`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ token: t.token, client_id: t.clientId, client_secret: t.clientSecret }),
    });
    await expect(
      bff.client(EventService).listEvents({ tenant: acme }, bearer(t.token)),
    ).rejects.toMatchObject({ code: Code.UNAUTHENTICATED, reason: 'revoked_user_token' });
  });

  it('leaves the ingester and egress calls to the workload policy (no user behind a webhook)', async () => {
    await expect(
      ingester.client(SourceService).resolveSource({ sourceId: 'src_nope' }),
    ).rejects.toMatchObject({
      code: Code.NOT_FOUND,
      reason: 'source_not_found',
    });
    // …and the ingester cannot reach a user-facing handler even with a valid admin token.
    const admin = await clientToken(['admin'], null);
    await expect(ingester.client(TenantService).listTenants({}, bearer(admin.token))).rejects.toMatchObject({
      code: Code.PERMISSION_DENIED,
      reason: 'spiffe_id_not_allowed',
    });
  });
});
