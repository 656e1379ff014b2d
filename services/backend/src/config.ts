import {
  grpcServerEnv,
  hostPort,
  httpUrl,
  loadConfig,
  meshServiceEnv,
  positiveInt,
  postgresUrl,
  z,
} from '@zenmesh/config';

/**
 * Every variable the backend reads: the mesh ones (the workload agent provides the certificate, so
 * ZENMESH_TLS_CERT/_KEY are optional), its database, and where to check the users' forwarded tokens.
 */
export const backendEnv = z.object({
  ...meshServiceEnv,
  ...grpcServerEnv,
  /** A Postgres server; when unset the embedded PGlite database in ZENMESH_DATA_DIR is used. */
  DATABASE_URL: postgresUrl().optional(),
  ZENMESH_DATA_DIR: z.string().min(1).optional(),
  // The token service: its gRPC address (TokenService.Introspect, for revocation) and its public base URL,
  // the `iss` of every access token and the home of the JWKS that verifies them.
  ZENMESH_TOKEN_ADDR: hostPort(),
  ZENMESH_TOKEN_ISSUER: httpUrl(),
  // Where to fetch the issuer's keys when its public URL is not reachable from inside the deployment
  // (compose, Kubernetes); default `<issuer>/.well-known/jwks.json`.
  ZENMESH_TOKEN_JWKS_URL: httpUrl().optional(),
  // Retention (docs/retention.md): how often the purge runs, and rows per transaction (at most 5000).
  ZENMESH_RETENTION_INTERVAL_MS: positiveInt(600_000).pipe(z.number().min(1000)),
  ZENMESH_RETENTION_BATCH: positiveInt(500).pipe(z.number().max(5000)),
  // Operational notifications (docs/notifications.md): a source's invalid signatures within a window that
  // notify its tenant, and how often the CA's last rotation is polled for a rollback.
  ZENMESH_SIGNATURE_SPIKE_THRESHOLD: positiveInt(20),
  ZENMESH_SIGNATURE_SPIKE_WINDOW_S: positiveInt(300).pipe(z.number().min(10).max(86_400)),
  ZENMESH_CA_POLL_INTERVAL_MS: positiveInt(30_000).pipe(z.number().min(1000)),
});

export type BackendEnv = z.output<typeof backendEnv>;

export const loadBackendConfig = (env: Record<string, string | undefined> = process.env): BackendEnv =>
  loadConfig(backendEnv, env);
