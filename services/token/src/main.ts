import { openSharedRedis, runService, startMeshRuntime } from '@zenmesh/runtime';
import { tokenEnv } from './config.js';
import { TOKEN_HTTP_ROUTES } from './http-routes.js';
import { startTokenService } from './token-service.js';

runService('token', tokenEnv, async ({ env, logger, meter, observeHttp, defer }) => {
  const runtime = await startMeshRuntime('token', env, logger, meter);
  observeHttp(TOKEN_HTTP_ROUTES);
  defer(() => runtime.close());
  // Rate limits are shared through Redis across token-service replicas when it is configured; a short command
  // timeout keeps a slow Redis from holding logins (each replica then falls back to its own budget).
  const redis = openSharedRedis(env.REDIS_URL, defer);
  const token = await startTokenService({
    logger,
    meter,
    ...runtime.mesh,
    grpcListen: env.ZENMESH_GRPC_LISTEN,
    httpListen: env.ZENMESH_HTTP_LISTEN,
    databaseUrl: env.DATABASE_URL,
    dataDir: env.ZENMESH_DATA_DIR,
    bootstrapAdminKeySha256: env.ZENMESH_BOOTSTRAP_ADMIN_KEY_SHA256,
    oauth: {
      secretsDir: env.ZENMESH_SECRETS_DIR,
      issuer: env.ZENMESH_TOKEN_ISSUER,
      signingAlg: env.ZENMESH_TOKEN_SIGNING_ALG,
      accessTokenTtlSec: env.ZENMESH_TOKEN_ACCESS_TTL,
      refreshGraceSec: env.ZENMESH_TOKEN_REFRESH_GRACE,
      trustedProxies: env.ZENMESH_TRUSTED_PROXIES,
      redis,
      redisPrefix: `${env.ZENMESH_REDIS_PREFIX ?? 'zenmesh:'}token:`,
    },
  });
  defer(() => token.stop());
  runtime.setServingAddress(token.ready.grpc);
  return token.ready;
});
