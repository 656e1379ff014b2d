import { hostPort, httpUrl, loadConfig, meshEnv, runService, z } from '@zenmesh/config';
import {
  DeliveryService,
  EndpointService,
  EventService,
  SourceService,
  TenantService,
  TokenService,
} from '@zenmesh/proto';
import { createMeshChannel, loadTlsIdentity } from '@zenmesh/rpc';
import { createBffApp } from './http-app.js';

runService('bff', async ({ logger }) => {
  const env = loadConfig(
    z.object({
      ...meshEnv,
      ZENMESH_HTTP_LISTEN: hostPort().default('127.0.0.1:3000'),
      ZENMESH_BACKEND_ADDR: hostPort(),
      ZENMESH_TOKEN_ADDR: hostPort(),
      // The CA client arrives with the identity issue (trust bundle for the dashboard); read now so a
      // launcher that passes it is checked early.
      ZENMESH_CA_ADDR: hostPort().optional(),
      ZENMESH_INGEST_PUBLIC_URL: httpUrl().optional(),
    }),
  );
  const identity = loadTlsIdentity({
    cert: env.ZENMESH_TLS_CERT,
    key: env.ZENMESH_TLS_KEY,
    ca: env.ZENMESH_TLS_CA,
  });
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
    },
    verifyApiKey: (apiKey) => tokens.verifyApiKey({ apiKey }),
    ingestPublicUrl: env.ZENMESH_INGEST_PUBLIC_URL,
  });
  const url = await app.listen(env.ZENMESH_HTTP_LISTEN);
  return {
    ready: { http: url },
    async stop() {
      await app.close();
      backend.close();
      token.close();
    },
  };
});
