import {
  AuditService,
  ConnectionService,
  DeliveryService,
  EndpointService,
  EventService,
  SourceService,
  TenantService,
  TokenService,
} from '@zenmesh/proto';
import { runService, startMeshRuntime } from '@zenmesh/runtime';
import { bffEnv } from './config.js';
import { createBffApp } from './http-app.js';
import { createTokenAuth } from './token-wiring.js';

runService('bff', bffEnv, async ({ env, logger, defer }) => {
  const runtime = await startMeshRuntime('bff', env, logger);
  defer(() => runtime.close());
  const backend = runtime.channel('backend', env.ZENMESH_BACKEND_ADDR);
  defer(() => backend.close());
  const token = runtime.channel('token', env.ZENMESH_TOKEN_ADDR);
  defer(() => token.close());
  const app = createBffApp({
    logger,
    backend: {
      tenants: backend.client(TenantService),
      sources: backend.client(SourceService),
      endpoints: backend.client(EndpointService),
      events: backend.client(EventService),
      deliveries: backend.client(DeliveryService),
      audit: backend.client(AuditService),
      connections: backend.client(ConnectionService),
    },
    ...createTokenAuth(token.client(TokenService), {
      issuer: env.ZENMESH_TOKEN_ISSUER,
      ...(env.ZENMESH_TOKEN_JWKS_URL === undefined ? {} : { jwksUri: env.ZENMESH_TOKEN_JWKS_URL }),
    }),
    ingestPublicUrl: env.ZENMESH_INGEST_PUBLIC_URL,
  });
  const url = await app.listen(env.ZENMESH_HTTP_LISTEN);
  defer(() => app.close());
  return { http: url };
});
