import { createDatabase, createScratchDatabase, type ScratchDatabase } from '@zenmesh/db';
import {
  type CertificateAuthority,
  createCertificateAuthority,
  issueSvidWithKey,
  spiffeIdFor,
} from '@zenmesh/pki';
import { TokenService } from '@zenmesh/proto';
import { Code, createMeshChannel, type MeshChannel, type TlsIdentity } from '@zenmesh/rpc';
import { createLogger } from '@zenmesh/telemetry';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateApiKey, hashApiKey } from './api-key.js';
import { BOOTSTRAP_ADMIN_NAME } from './api-key-store.js';
import { type RunningTokenService, startTokenService } from './token-service.js';

const TRUST_DOMAIN = 'zenmesh.local';
const NAMESPACE = 'zenmesh';
const logger = createLogger('token-test', { level: 'silent' });

let scratch: ScratchDatabase;
let ca: CertificateAuthority;
let tokenIdentity: TlsIdentity;
const running: RunningTokenService[] = [];
const channels: MeshChannel[] = [];

async function identityFor(service: string): Promise<TlsIdentity> {
  const svid = await issueSvidWithKey({
    ca,
    spiffeId: spiffeIdFor(service, { trustDomain: TRUST_DOMAIN, namespace: NAMESPACE }),
  });
  return { cert: svid.certPem, key: svid.keyPem, ca: ca.certPem };
}

async function start(bootstrapAdminKeySha256?: string): Promise<RunningTokenService> {
  const service = await startTokenService({
    integrity: false,
    logger,
    identity: tokenIdentity,
    trustDomain: TRUST_DOMAIN,
    namespace: NAMESPACE,
    grpcListen: '127.0.0.1:0',
    httpListen: '127.0.0.1:0',
    databaseUrl: scratch.url,
    bootstrapAdminKeySha256,
  });
  running.push(service);
  return service;
}

async function stop(service: RunningTokenService): Promise<void> {
  running.splice(running.indexOf(service), 1);
  await service.stop();
}

async function tokenClientAs(service: RunningTokenService, caller: string) {
  const channel = createMeshChannel({
    integrity: false,
    address: service.ready.grpc,
    identity: await identityFor(caller),
    peer: 'token',
    trustDomain: TRUST_DOMAIN,
    namespace: NAMESPACE,
  });
  channels.push(channel);
  return channel.client(TokenService);
}

beforeAll(async () => {
  scratch = await createScratchDatabase(process.env.DATABASE_URL ?? '', 'zm_test_token');
  ca = await createCertificateAuthority({ trustDomain: TRUST_DOMAIN });
  tokenIdentity = await identityFor('token');
});

afterAll(async () => {
  for (const channel of channels) channel.close();
  for (const service of [...running]) await service.stop();
  await scratch?.drop();
});

describe('bootstrap admin key', () => {
  it('is registered once however often (and however concurrently) the service starts', async () => {
    const adminKey = generateApiKey();
    const hash = hashApiKey(adminKey);
    await stop(await start(hash));
    const [a, b] = await Promise.all([start(hash), start(hash)]);
    await Promise.all([stop(a), stop(b)]);
    const service = await start(hash);

    const db = await createDatabase({ url: scratch.url });
    try {
      const { rows } = await db.query<{ name: string; scopes: string[]; tenant_id: string | null }>(
        'select name, scopes, tenant_id from token.api_keys where key_sha256 = $1',
        [hash],
      );
      expect(rows).toEqual([{ name: BOOTSTRAP_ADMIN_NAME, scopes: ['admin'], tenant_id: null }]);
    } finally {
      await db.close();
    }

    const tokens = await tokenClientAs(service, 'bff');
    const res = await tokens.verifyApiKey({ apiKey: adminKey });
    expect(res.valid).toBe(true);
    expect(res.tenantId).toBe('');
    expect(res.scopes).toEqual(['admin']);
    await stop(service);
  });
});

describe('TokenService over mTLS', () => {
  let service: RunningTokenService;
  beforeAll(async () => {
    service = await start();
  });

  it('answers VerifyApiKey to the bff: valid keys with their tenant, refusals with nothing', async () => {
    const { apiKey, record } = await service.store.create({
      name: 'ci',
      scopes: ['admin'],
      tenantId: 'ten_acme',
    });
    const tokens = await tokenClientAs(service, 'bff');
    const ok = await tokens.verifyApiKey({ apiKey });
    expect({ valid: ok.valid, keyId: ok.keyId, tenantId: ok.tenantId, scopes: ok.scopes }).toEqual({
      valid: true,
      keyId: record.id,
      tenantId: 'ten_acme',
      scopes: ['admin'],
    });
    for (const bad of [generateApiKey(), 'not-a-key', '']) {
      const no = await tokens.verifyApiKey({ apiKey: bad });
      expect({ valid: no.valid, keyId: no.keyId, tenantId: no.tenantId, scopes: no.scopes }).toEqual({
        valid: false,
        keyId: '',
        tenantId: '',
        scopes: [],
      });
    }
  });

  it('refuses VerifyApiKey to any workload but the bff', async () => {
    const tokens = await tokenClientAs(service, 'ingester');
    await expect(tokens.verifyApiKey({ apiKey: generateApiKey() })).rejects.toMatchObject({
      code: Code.PERMISSION_DENIED,
      reason: 'spiffe_id_not_allowed',
    });
  });

  it('without OAuth configuration serves /healthz and no OAuth endpoint', async () => {
    const health = await fetch(`${service.ready.http}/healthz`);
    expect(health.status).toBe(200);
    expect(await health.json()).toEqual({ status: 'ok' });
    for (const path of ['/.well-known/openid-configuration', '/oauth/token', '/jwks.json']) {
      const res = await fetch(`${service.ready.http}${path}`);
      expect(res.status).toBe(404);
      expect(await res.json()).toEqual({ error: 'not_found' });
    }
  });
});
