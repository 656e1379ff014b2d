import { hostPort, httpUrl, meshServiceEnv, z } from '@zenmesh/config';

/**
 * Every variable the bff reads: the mesh ones (the workload agent provides the certificate, so
 * ZENMESH_TLS_CERT/_KEY are optional), where the backend and the token service listen, and its public face.
 */
export const bffEnv = z.object({
  ...meshServiceEnv,
  ZENMESH_HTTP_LISTEN: hostPort().default('127.0.0.1:3000'),
  ZENMESH_BACKEND_ADDR: hostPort(),
  ZENMESH_TOKEN_ADDR: hostPort(),
  ZENMESH_INGEST_PUBLIC_URL: httpUrl().optional(),
  // The token service's public base URL: the issuer whose JWKS verifies bearer tokens.
  ZENMESH_TOKEN_ISSUER: httpUrl(),
});

export type BffEnv = z.output<typeof bffEnv>;
