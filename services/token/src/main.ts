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
  startMeshIdentity,
  z,
} from '@zenmesh/config';
import { createMessageIntegrity, useMeshDefaults, useMessageIntegrity } from '@zenmesh/rpc';
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
  // per-call peer guard for every server and channel of this process.
  const id = await startMeshIdentity('token', env, logger);
  useMeshDefaults({ verifyPeer: id.verifyPeer, maxConnectionAgeMs: id.connectionAgeMs });
  const token = await startTokenService({
    logger,
    identity: id.provider,
    trustDomain: env.ZENMESH_TRUST_DOMAIN,
    namespace: env.ZENMESH_NAMESPACE,
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
  id.setServingAddress(token.ready.grpc);
  return {
    ready: token.ready,
    async stop() {
      await token.stop();
      id.stop();
      await integrity.close();
    },
  };
});
