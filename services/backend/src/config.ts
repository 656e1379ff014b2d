import { grpcServerEnv, loadConfig, meshEnv, z } from '@zenmesh/config';

const postgresUrl = z.string().refine((v) => {
  try {
    const u = new URL(v);
    return u.protocol === 'postgres:' || u.protocol === 'postgresql:';
  } catch {
    return false;
  }
}, 'expected a postgres:// URL');

export const backendEnv = z.object({
  ...meshEnv,
  ...grpcServerEnv,
  /** A Postgres server; when unset the embedded PGlite database in ZENMESH_DATA_DIR is used. */
  DATABASE_URL: postgresUrl.optional(),
  ZENMESH_DATA_DIR: z.string().min(1).optional(),
  ZENMESH_SECRETS_DIR: z.string({ error: 'directory holding master.key is required' }).min(1),
});

export type BackendConfig = z.output<typeof backendEnv>;

export const loadBackendConfig = (env: Record<string, string | undefined> = process.env): BackendConfig =>
  loadConfig(backendEnv, env);
