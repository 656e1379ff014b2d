import { randomBytes } from 'node:crypto';
import { createDatabase, createScratchDatabase, type Db, type ScratchDatabase } from '@zenmesh/db';
import {
  type CertificateAuthority,
  createCertificateAuthority,
  issueSvidWithKey,
  spiffeIdFor,
} from '@zenmesh/pki';
import {
  DeliveryService,
  DeliveryState,
  EndpointService,
  EventService,
  SourceService,
  TenantService,
} from '@zenmesh/proto';
import {
  Code,
  createMeshChannel,
  createMeshServer,
  type MeshChannel,
  type MeshServer,
  RpcError,
  type TlsIdentity,
} from '@zenmesh/rpc';
import { createLogger } from '@zenmesh/telemetry';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBackend } from './backend.js';

const ADMIN_URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const TD = 'zenmesh.local';
const NS = 'zenmesh';
const logger = createLogger('backend-test', { level: 'silent' });

let ca: CertificateAuthority;
let scratch: ScratchDatabase;
let db: Db;
let server: MeshServer;
let address: string;
const channels: MeshChannel[] = [];

async function identityFor(service: string): Promise<TlsIdentity> {
  const svid = await issueSvidWithKey({
    ca,
    spiffeId: spiffeIdFor(service, { trustDomain: TD, namespace: NS }),
  });
  return { cert: svid.certPem, key: svid.keyPem, ca: ca.certPem };
}

/** A client channel to the backend under the given workload identity. */
async function as(service: string): Promise<MeshChannel> {
  const ch = createMeshChannel({
    integrity: false,
    address,
    identity: await identityFor(service),
    peer: 'backend',
    trustDomain: TD,
    namespace: NS,
  });
  channels.push(ch);
  return ch;
}

const refusal = async (p: Promise<unknown>): Promise<{ code: Code; reason: string }> => {
  const err = await p.then(
    () => {
      throw new Error('expected the call to be refused');
    },
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(RpcError);
  return { code: (err as RpcError).code, reason: (err as RpcError).reason };
};

beforeAll(async () => {
  ca = await createCertificateAuthority({ trustDomain: TD });
  scratch = await createScratchDatabase(ADMIN_URL);
  db = await createDatabase({ url: scratch.url });
  const backend = createBackend({ db, masterKey: randomBytes(32), random: () => 0.5 });
  await backend.migrate();
  server = createMeshServer({
    integrity: false,
    service: 'backend',
    identity: await identityFor('backend'),
    trustDomain: TD,
    namespace: NS,
    logger,
  });
  backend.register(server);
  ({ address } = await server.listen('127.0.0.1:0'));
});

afterAll(async () => {
  for (const ch of channels) ch.close();
  await server?.shutdown({ graceMs: 1000 });
  await db?.close();
  await scratch?.drop();
});

describe('backend over mutual TLS', () => {
  it('runs the whole flow: tenant, source, endpoint, event fan-out, lease, report', async () => {
    const bff = await as('bff');
    const ingester = await as('ingester');
    const egress = await as('egress');
    const name = `acme-${randomBytes(3).toString('hex')}`;

    const { tenant } = await bff.client(TenantService).createTenant({ name });
    expect(tenant?.id).toMatch(/^ten_/);
    const { source } = await bff
      .client(SourceService)
      .createSource({ tenant: name, provider: 'generic', name: 'hooks', secret: 'topsecret' });
    expect(source?.generic).toMatchObject({
      header: 'x-signature',
      algorithm: 'sha256',
      encoding: 'hex',
      prefix: 'sha256=',
    });
    const created = await bff
      .client(EndpointService)
      .createEndpoint({ tenant: name, url: 'https://target.example/in' });
    expect(created.signingSecret).toMatch(/^whsec_/);

    const resolved = await ingester.client(SourceService).resolveSource({ sourceId: source?.id ?? '' });
    expect(resolved.secrets).toEqual(['topsecret']);

    const data = new TextEncoder().encode('{"hello":"world"}');
    const rec = await ingester
      .client(EventService)
      .recordEvent({ sourceId: source?.id ?? '', type: 'push', data, providerDeliveryId: 'gh-1' });
    expect(rec.duplicate).toBe(false);
    expect(rec.deliveryIds).toHaveLength(1);
    const dup = await ingester
      .client(EventService)
      .recordEvent({ sourceId: source?.id ?? '', type: 'push', data, providerDeliveryId: 'gh-1' });
    expect(dup.duplicate).toBe(true);
    expect(dup.event?.id).toBe(rec.event?.id);

    const { deliveries } = await egress
      .client(DeliveryService)
      .leaseDeliveries({ eventId: rec.event?.id ?? '' });
    expect(deliveries).toHaveLength(1);
    const leased = deliveries[0];
    expect(leased?.endpointUrl).toBe('https://target.example/in');
    expect(leased?.signingSecrets).toEqual([created.signingSecret]);
    expect(Buffer.from(leased?.event?.data ?? []).toString()).toBe('{"hello":"world"}');

    const report = egress.client(DeliveryService).reportAttempt;
    const failed = await report({
      deliveryId: leased?.delivery?.id ?? '',
      leaseToken: leased?.leaseToken ?? '',
      statusCode: 503,
    });
    expect(failed.delivery?.state).toBe(DeliveryState.RETRYING);
    expect(failed.delivery?.attempts).toBe(1);

    expect(
      await refusal(
        report({
          deliveryId: leased?.delivery?.id ?? '',
          leaseToken: leased?.leaseToken ?? '',
          statusCode: 200,
        }),
      ),
    ).toEqual({ code: Code.FAILED_PRECONDITION, reason: 'lease_lost' });

    const listed = await bff.client(DeliveryService).listDeliveries({ tenant: name });
    expect(listed.deliveries.map((d) => d.state)).toEqual([DeliveryState.RETRYING]);
    expect((await bff.client(EventService).listEvents({ tenant: tenant?.id ?? '' })).events).toHaveLength(1);
  });

  it('maps store refusals to gRPC status codes with their reason', async () => {
    const bff = await as('bff');
    const ingester = await as('ingester');
    const name = `dup-${randomBytes(3).toString('hex')}`;
    await bff.client(TenantService).createTenant({ name });
    expect(await refusal(bff.client(TenantService).createTenant({ name }))).toEqual({
      code: Code.ALREADY_EXISTS,
      reason: 'tenant_exists',
    });
    expect(await refusal(bff.client(TenantService).createTenant({ name: 'Bad Name' }))).toEqual({
      code: Code.INVALID_ARGUMENT,
      reason: 'invalid_tenant_name',
    });
    expect(await refusal(bff.client(SourceService).listSources({ tenant: 'no-such-tenant' }))).toEqual({
      code: Code.NOT_FOUND,
      reason: 'tenant_not_found',
    });
    expect(
      await refusal(
        bff
          .client(SourceService)
          .createSource({ tenant: name, provider: 'bitbucket', name: 'x', secret: 'x' }),
      ),
    ).toEqual({ code: Code.INVALID_ARGUMENT, reason: 'invalid_provider' });
    expect(
      await refusal(
        bff.client(SourceService).createSource({ tenant: name, provider: 'generic', name: 'x', secret: '' }),
      ),
    ).toEqual({ code: Code.INVALID_ARGUMENT, reason: 'empty_secret' });
    expect(
      await refusal(
        bff.client(EndpointService).createEndpoint({ tenant: name, url: 'https://u:p@x.example/' }),
      ),
    ).toEqual({ code: Code.INVALID_ARGUMENT, reason: 'url_has_credentials' });
    expect(await refusal(ingester.client(SourceService).resolveSource({ sourceId: 'src_missing' }))).toEqual({
      code: Code.NOT_FOUND,
      reason: 'source_not_found',
    });
  });

  it('refuses a caller whose SPIFFE ID the policy does not allow for the method: PERMISSION_DENIED', async () => {
    const ingester = await as('ingester');
    const bff = await as('bff');
    expect(await refusal(ingester.client(TenantService).createTenant({ name: 'sneaky' }))).toEqual({
      code: Code.PERMISSION_DENIED,
      reason: 'spiffe_id_not_allowed',
    });
    expect(await refusal(bff.client(DeliveryService).leaseDeliveries({}))).toEqual({
      code: Code.PERMISSION_DENIED,
      reason: 'spiffe_id_not_allowed',
    });
    expect(await refusal(bff.client(SourceService).resolveSource({ sourceId: 'src_x' }))).toEqual({
      code: Code.PERMISSION_DENIED,
      reason: 'spiffe_id_not_allowed',
    });
  });
});

describe('a source signed-timestamp tolerance over gRPC (issue 12, defect 5)', () => {
  it('is capped at an hour at creation and at update, with the exact INVALID_ARGUMENT reason', async () => {
    const bff = await as('bff');
    const ingester = await as('ingester');
    const name = `tol-${randomBytes(3).toString('hex')}`;
    await bff.client(TenantService).createTenant({ name });
    const sources = bff.client(SourceService);
    const create = (toleranceSeconds: number) =>
      sources.createSource({
        tenant: name,
        provider: 'stripe',
        name: '',
        secret: 'whsec_x',
        toleranceSeconds,
      });
    const invalidTolerance = { code: Code.INVALID_ARGUMENT, reason: 'invalid_tolerance_seconds' };
    // uint32 on the wire: a negative value cannot be sent; the largest one can.
    for (const t of [3601, 86_400, 4_294_967_295]) expect(await refusal(create(t))).toEqual(invalidTolerance);

    const { source } = await create(3600);
    const id = source?.id ?? '';
    expect(source?.toleranceSeconds).toBe(3600);
    const update = (toleranceSeconds?: number) =>
      sources.updateSource({
        tenant: name,
        sourceId: id,
        ...(toleranceSeconds === undefined ? {} : { toleranceSeconds }),
      });
    for (const t of [3601, 4_294_967_295]) expect(await refusal(update(t))).toEqual(invalidTolerance);
    expect(await refusal(update())).toEqual({ code: Code.INVALID_ARGUMENT, reason: 'no_changes' });
    // Nothing was lost: the refused updates left the source as it was.
    const resolve = async () =>
      (await ingester.client(SourceService).resolveSource({ sourceId: id })).source?.toleranceSeconds;
    expect(await resolve()).toBe(3600);

    expect((await update(120)).source?.toleranceSeconds).toBe(120);
    expect(await resolve()).toBe(120);
    expect((await update(0)).source?.toleranceSeconds).toBe(0);
    expect(await resolve()).toBe(0);

    expect(
      await refusal(sources.updateSource({ tenant: name, sourceId: 'src_missing', toleranceSeconds: 60 })),
    ).toEqual({ code: Code.NOT_FOUND, reason: 'source_not_found' });
    expect(
      await refusal(
        ingester.client(SourceService).updateSource({ tenant: name, sourceId: id, toleranceSeconds: 60 }),
      ),
    ).toEqual({ code: Code.PERMISSION_DENIED, reason: 'spiffe_id_not_allowed' });

    const tenantId =
      (await bff.client(TenantService).listTenants({})).tenants.find((t) => t.name === name)?.id ?? '';
    const audit = await db.withTenant(
      tenantId,
      async (tx) =>
        (
          await tx.query<{ before: unknown; after: unknown }>(
            `select before, after from core.audit where tenant_id = $1 and action = 'source.update' order by seq`,
            [tenantId],
          )
        ).rows,
    );
    expect(audit).toEqual([
      {
        before: { toleranceSeconds: 3600, routing: 'all' },
        after: { toleranceSeconds: 120, routing: 'all' },
      },
      { before: { toleranceSeconds: 120, routing: 'all' }, after: { toleranceSeconds: 0, routing: 'all' } },
    ]);
  });
});
