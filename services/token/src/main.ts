import {
  grpcServerEnv,
  hostPort,
  httpUrl,
  loadConfig,
  meshEnv,
  meshIdentityEnv,
  messageIntegrityEnv,
  positiveInt,
  runService,
  startMeshRuntime,
  z,
} from '@zenmesh/config';
import { startTokenService } from './token-service.js';

runService('token', async ({ logger }) => {
  const env = loadConfig(
    z
      .object({
        ...meshEnv,
        ...meshIdentityEnv,
        ...grpcServerEnv,
        ...messageIntegrityEnv,
        ZENMESH_HTTP_LISTEN: hostPort().default('127.0.0.1:4000'),
        DATABASE_URL: z.string().min(1).optional(),
        ZENMESH_DATA_DIR: z.string().min(1).optional(),
        // The public base URL of this service (`iss` of every token); defaults to the URL it binds.
        ZENMESH_TOKEN_ISSUER: httpUrl().optional(),
        ZENMESH_TOKEN_SIGNING_ALG: z.enum(['ES256', 'EdDSA', 'RS256']).default('ES256'),
        ZENMESH_TOKEN_ACCESS_TTL: positiveInt(600).pipe(
          z.number().max(900, 'access tokens live at most 900 s'),
        ),
        ZENMESH_TOKEN_REFRESH_GRACE: z
          .string()
          .regex(/^\d+$/, 'expected whole seconds')
          .transform(Number)
          .default(10),
        ZENMESH_TRUSTED_PROXIES: z.string().default(''),
        ZENMESH_BOOTSTRAP_ADMIN_KEY_SHA256: z
          .string()
          .regex(/^[0-9a-fA-F]{64}$/, 'expected the hex SHA-256 of the admin key')
          .optional(),
      })
      .refine((e) => e.DATABASE_URL !== undefined || e.ZENMESH_DATA_DIR !== undefined, {
        path: ['DATABASE_URL'],
        message: 'set DATABASE_URL (shared Postgres) or ZENMESH_DATA_DIR (embedded PGlite directory)',
      }),
  );
  // Message integrity, then the workload agent (SVID from the CA, renewed at half-life, bundle + revocation
  // watches) whose per-call peer guard every server and channel of this process uses.
  const runtime = await startMeshRuntime('token', env, logger);
  const token = await startTokenService({
    logger,
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
      trustedProxies: env.ZENMESH_TRUSTED_PROXIES.split(',')
        .map((s) => s.trim())
        .filter(Boolean),
    },
  });
  runtime.setServingAddress(token.ready.grpc);
  return {
    ready: token.ready,
    async stop() {
      await token.stop();
      await runtime.close();
    },
  };
});
