import { grpcServerEnv, hostPort, loadConfig, meshEnv, runService, z } from '@zenmesh/config';
import { loadTlsIdentity } from '@zenmesh/rpc';
import { startTokenService } from './token-service.js';

runService('token', async ({ logger }) => {
  const env = loadConfig(
    z
      .object({
        ...meshEnv,
        ...grpcServerEnv,
        ZENMESH_HTTP_LISTEN: hostPort().default('127.0.0.1:4000'),
        DATABASE_URL: z.string().min(1).optional(),
        ZENMESH_DATA_DIR: z.string().min(1).optional(),
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
  return startTokenService({
    logger,
    identity: loadTlsIdentity({
      cert: env.ZENMESH_TLS_CERT,
      key: env.ZENMESH_TLS_KEY,
      ca: env.ZENMESH_TLS_CA,
    }),
    trustDomain: env.ZENMESH_TRUST_DOMAIN,
    namespace: env.ZENMESH_NAMESPACE,
    grpcListen: env.ZENMESH_GRPC_LISTEN,
    httpListen: env.ZENMESH_HTTP_LISTEN,
    databaseUrl: env.DATABASE_URL,
    dataDir: env.ZENMESH_DATA_DIR,
    bootstrapAdminKeySha256: env.ZENMESH_BOOTSTRAP_ADMIN_KEY_SHA256,
  });
});
