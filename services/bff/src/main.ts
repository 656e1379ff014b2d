import {
  hostPort,
  httpUrl,
  loadConfig,
  meshEnv,
  meshIdentityEnv,
  messageIntegrityEnv,
  runService,
  startMeshRuntime,
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
import { createMeshChannel } from '@zenmesh/rpc';
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
      // Where to fetch the issuer's keys when its public URL is not reachable from here (compose, Kubernetes).
      ZENMESH_TOKEN_JWKS_URL: httpUrl().optional(),
    }),
  );
  // Message integrity, then the workload agent (SVID from the CA, renewed at half-life, bundle + revocation
  // watches) whose per-call peer guard every server and channel of this process uses.
  const runtime = await startMeshRuntime('bff', env, logger);
  const { mesh } = runtime;
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
    ...createTokenAuth(tokens, {
      issuer: env.ZENMESH_TOKEN_ISSUER,
      ...(env.ZENMESH_TOKEN_JWKS_URL === undefined ? {} : { jwksUri: env.ZENMESH_TOKEN_JWKS_URL }),
    }),
    ingestPublicUrl: env.ZENMESH_INGEST_PUBLIC_URL,
  });
  const url = await app.listen(env.ZENMESH_HTTP_LISTEN);
  return {
    ready: { http: url },
    async stop() {
      await app.close();
      backend.close();
      token.close();
      await runtime.close();
    },
  };
});
