import { commaList, hostPort, httpUrl, meshServiceEnv, positiveInt, z } from '@zenmesh/config';

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
  // Where to fetch the issuer's keys when its public URL is not reachable from inside the deployment
  // (compose, Kubernetes); default `<issuer>/.well-known/jwks.json`.
  ZENMESH_TOKEN_JWKS_URL: httpUrl().optional(),
  /** Comma-separated addresses/CIDRs of reverse proxies whose X-Forwarded-For is believed (audit IP, limits). */
  ZENMESH_TRUSTED_PROXIES: commaList(),
  /** /api/v1 requests per minute per API key (or bearer-token principal), after authentication. */
  ZENMESH_BFF_RATE_LIMIT: positiveInt(600),
  /** /api/v1 requests per minute per client IP, before authentication. */
  ZENMESH_BFF_IP_RATE_LIMIT: positiveInt(1200),
  // The web console (/console): on when its OAuth client is configured (services/bff/README.md, "Console").
  ZENMESH_CONSOLE_CLIENT_ID: z.string().min(1).optional(),
  ZENMESH_CONSOLE_CLIENT_SECRET: z.string().min(1).optional(),
  ZENMESH_CONSOLE_PUBLIC_URL: httpUrl().optional(),
  // Or the registration as a JSON file {clientId, clientSecret, redirectUri}, re-read when it changes.
  ZENMESH_CONSOLE_CLIENT_FILE: z.string().min(1).optional(),
  ZENMESH_CONSOLE_IDLE_TIMEOUT: positiveInt(1800),
  /** Comma-separated /metrics URLs of the mesh's services: the overview's refusals by reason (/api/v1/refusals). */
  ZENMESH_CONSOLE_METRICS_URLS: commaList().pipe(z.array(z.url({ protocol: /^https?$/ }))),
  /** Jaeger's UI (e.g. http://127.0.0.1:16686): the event page links its trace there, as `zenmesh events show`. */
  JAEGER_UI_URL: httpUrl().optional(),
  ZENMESH_CONSOLE_ABSOLUTE_TIMEOUT: positiveInt(43_200),
});

export type BffEnv = z.output<typeof bffEnv>;
