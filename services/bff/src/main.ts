import {
  hostPort,
  httpUrl,
  loadConfig,
  meshEnv,
  meshIdentityEnv,
  messageIntegrityEnv,
  runService,
  startMeshIdentity,
  z,
} from '@zenmesh/config';
import {
  AuditService,
  DeliveryService,
  EndpointService,
  EventService,
  SourceService,
  TenantService,
  TokenService,
} from '@zenmesh/proto';
import {
  createMeshChannel,
  createMessageIntegrity,
  useMeshDefaults,
  useMessageIntegrity,
} from '@zenmesh/rpc';
import { createBffApp } from './http-app.js';
import { createTokenAuth } from './token-wiring.js';

runService('bff', async ({ logger }) => {
  const env = loadConfig(
    z.object({
      ...meshEnv,
      ...meshIdentityEnv,
      ...messageIntegrityEnv,
      ZENMESH_HTTP_LISTEN: hostPort().default('127.0.0.1:3000'),
      ZENMESH_BACKEND_ADDR: hostPort(),
      ZENMESH_TOKEN_ADDR: hostPort(),
      ZENMESH_INGEST_PUBLIC_URL: httpUrl().optional(),
      // The token service's public base URL: the issuer whose JWKS verifies bearer tokens.
      ZENMESH_TOKEN_ISSUER: httpUrl(),
    }),
  );
  // Per-message HMAC + replay protection for every server and channel of this process (DESIGN.md).
  const integrity = await createMessageIntegrity({
    secretsDir: env.ZENMESH_SECRETS_DIR,
    cluster: env.ZENMESH_TRUST_DOMAIN,
    redisUrl: env.REDIS_URL,
    redisPrefix: env.ZENMESH_REDIS_PREFIX,
    insecureSkipVerify: env.ZENMESH_INSECURE_DISABLE_HMAC,
    logger,
  });
  useMessageIntegrity(integrity);
  // The workload agent: SVID from the CA (join, renew at half-life, bundle + revocation watches), and the
  // per-call peer guard for every channel of this process.
  const id = await startMeshIdentity('bff', env, logger);
  useMeshDefaults({ verifyPeer: id.verifyPeer, maxConnectionAgeMs: id.connectionAgeMs });
  const identity = id.provider;
  const mesh = { identity, trustDomain: env.ZENMESH_TRUST_DOMAIN, namespace: env.ZENMESH_NAMESPACE };
  const backend = createMeshChannel({ ...mesh, address: env.ZENMESH_BACKEND_ADDR, peer: 'backend' });
  const token = createMeshChannel({ ...mesh, address: env.ZENMESH_TOKEN_ADDR, peer: 'token' });
  const tokens = token.client(TokenService);

  const app = createBffApp({
    logger,
    backend: {
      tenants: backend.client(TenantService),
      sources: backend.client(SourceService),
      endpoints: backend.client(EndpointService),
      events: backend.client(EventService),
      deliveries: backend.client(DeliveryService),
      audit: backend.client(AuditService),
    },
    ...createTokenAuth(tokens, { issuer: env.ZENMESH_TOKEN_ISSUER }),
    ingestPublicUrl: env.ZENMESH_INGEST_PUBLIC_URL,
  });
  const url = await app.listen(env.ZENMESH_HTTP_LISTEN);
  return {
    ready: { http: url },
    async stop() {
      await app.close();
      backend.close();
      token.close();
      id.stop();
      await integrity.close();
    },
  };
});
