import {
  AuditService,
  DeliveryService,
  EndpointService,
  EventService,
  SourceService,
  TenantService,
  TokenService,
} from '@zenmesh/proto';
import { runService, startMeshRuntime } from '@zenmesh/runtime';
import { Redis } from 'ioredis';
import { bffEnv } from './config.js';
import { createBffApp } from './http-app.js';
import { BFF_HTTP_ROUTES } from './http-routes.js';
import { createTokenAuth } from './token-wiring.js';

runService('bff', bffEnv, async ({ env, logger, meter, observeHttp, defer }) => {
  const runtime = await startMeshRuntime('bff', env, logger, meter);
  defer(() => runtime.close());
  // The /api/v1 budgets are shared through Redis across bff replicas when it is configured.
  const redis = env.REDIS_URL
    ? new Redis(env.REDIS_URL, { commandTimeout: 1000, maxRetriesPerRequest: 1 })
    : undefined;
  if (redis) defer(() => redis.quit().then(() => undefined));
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
    },
    ...createTokenAuth(token.client(TokenService), {
      issuer: env.ZENMESH_TOKEN_ISSUER,
      ...(env.ZENMESH_TOKEN_JWKS_URL === undefined ? {} : { jwksUri: env.ZENMESH_TOKEN_JWKS_URL }),
    }),
    ingestPublicUrl: env.ZENMESH_INGEST_PUBLIC_URL,
    trustedProxies: env.ZENMESH_TRUSTED_PROXIES,
    rateLimit: {
      perCaller: { points: env.ZENMESH_BFF_RATE_LIMIT, durationSec: 60 },
      perIp: { points: env.ZENMESH_BFF_IP_RATE_LIMIT, durationSec: 60 },
      redis,
      prefix: `${env.ZENMESH_REDIS_PREFIX ?? 'zenmesh:'}bff:`,
      onError: (err) => logger.warn({ err }, 'rate-limit store failed; this replica uses its own'),
    },
  });
  observeHttp(BFF_HTTP_ROUTES);
  const url = await app.listen(env.ZENMESH_HTTP_LISTEN);
  defer(() => app.close());
  return { http: url };
});
