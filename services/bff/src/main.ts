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
import { openSharedRedis, runService, startMeshRuntime } from '@zenmesh/runtime';
import { type BffEnv, bffEnv } from './config.js';
import { ConsoleError, createConsoleSetup, fileClient, staticClient } from './console/index.js';
import { createBffApp } from './http-app.js';
import { BFF_HTTP_ROUTES } from './http-routes.js';
import { createTokenAuth } from './token-wiring.js';

runService('bff', bffEnv, async ({ env, logger, meter, observeHttp, defer }) => {
  const runtime = await startMeshRuntime('bff', env, logger, meter);
  defer(() => runtime.close());
  // The /api/v1 budgets (and console sessions) are shared through Redis across bff replicas when configured.
  const redis = openSharedRedis(env.REDIS_URL, defer);
  const backend = runtime.channel('backend', env.ZENMESH_BACKEND_ADDR);
  defer(() => backend.close());
  const token = runtime.channel('token', env.ZENMESH_TOKEN_ADDR);
  defer(() => token.close());
  // The console is on when its OAuth client is configured (env, or a file the launcher writes); sessions go
  // to Redis (the same connection) when REDIS_URL is set.
  const client = consoleClient(env);
  const consoleSetup =
    client === undefined
      ? undefined
      : createConsoleSetup({
          issuer: env.ZENMESH_TOKEN_ISSUER,
          client,
          timeouts: {
            idleMs: env.ZENMESH_CONSOLE_IDLE_TIMEOUT * 1000,
            absoluteMs: env.ZENMESH_CONSOLE_ABSOLUTE_TIMEOUT * 1000,
          },
          redis,
          redisPrefix: `${env.ZENMESH_REDIS_PREFIX ?? 'zenmesh:'}console:`,
        });
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
    trustedProxies: env.ZENMESH_TRUSTED_PROXIES,
    rateLimit: {
      perCaller: { points: env.ZENMESH_BFF_RATE_LIMIT, durationSec: 60 },
      perIp: { points: env.ZENMESH_BFF_IP_RATE_LIMIT, durationSec: 60 },
      redis,
      prefix: `${env.ZENMESH_REDIS_PREFIX ?? 'zenmesh:'}bff:`,
      onError: (err) => logger.warn({ err }, 'rate-limit store failed; this replica uses its own'),
    },
    console: consoleSetup,
  });
  observeHttp(BFF_HTTP_ROUTES);
  const url = await app.listen(env.ZENMESH_HTTP_LISTEN);
  defer(() => app.close());
  return { http: url };
});

function consoleClient(env: BffEnv) {
  if (env.ZENMESH_CONSOLE_CLIENT_FILE !== undefined) return fileClient(env.ZENMESH_CONSOLE_CLIENT_FILE);
  if (env.ZENMESH_CONSOLE_CLIENT_ID === undefined) return undefined;
  if (env.ZENMESH_CONSOLE_CLIENT_SECRET === undefined || env.ZENMESH_CONSOLE_PUBLIC_URL === undefined) {
    throw new ConsoleError(
      'ERR_CONSOLE_CONFIG',
      'ZENMESH_CONSOLE_CLIENT_ID needs ZENMESH_CONSOLE_CLIENT_SECRET and ZENMESH_CONSOLE_PUBLIC_URL',
    );
  }
  return staticClient({
    clientId: env.ZENMESH_CONSOLE_CLIENT_ID,
    clientSecret: env.ZENMESH_CONSOLE_CLIENT_SECRET,
    redirectUri: `${new URL(env.ZENMESH_CONSOLE_PUBLIC_URL).origin}/console/callback`,
  });
}
