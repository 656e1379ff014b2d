import { commaList, hostPort, meshServiceEnv, positiveInt, z } from '@zenmesh/config';

/**
 * Every variable the ingester reads: the mesh ones (the workload agent provides the certificate, so
 * ZENMESH_TLS_CERT/_KEY are optional), where the backend and egress listen, and the public face's limits.
 */
export const ingesterEnv = z.object({
  ...meshServiceEnv,
  ZENMESH_HTTP_LISTEN: hostPort().default('127.0.0.1:8080'),
  ZENMESH_BACKEND_ADDR: hostPort(),
  ZENMESH_EGRESS_ADDR: hostPort(),
  ZENMESH_INGEST_MAX_BODY: positiveInt(1024 * 1024),
  ZENMESH_INGEST_RATE_LIMIT: positiveInt(100),
  ZENMESH_INGEST_RATE_BURST: positiveInt(200),
  /** Per client IP, taken before the body is read (behind a proxy, set the trusted proxies). */
  ZENMESH_INGEST_IP_RATE_LIMIT: positiveInt(200),
  ZENMESH_INGEST_IP_RATE_BURST: positiveInt(400),
  /** Replay window of unsigned delivery ids: how long SHA-256(source, body) is remembered. */
  ZENMESH_INGEST_BODY_DEDUP_WINDOW_S: positiveInt(86_400),
  /** How long an unknown source id is answered 404 without asking the backend again. */
  ZENMESH_INGEST_UNKNOWN_SOURCE_TTL_MS: positiveInt(5_000),
  /** Comma-separated addresses/CIDRs of reverse proxies whose X-Forwarded-For is believed. */
  ZENMESH_INGEST_TRUSTED_PROXIES: commaList(),
  ZENMESH_INGEST_REQUEST_TIMEOUT_MS: positiveInt(30_000),
  // How often invalid-signature counts go to the backend (one call, only when there are any; docs/notifications.md).
  ZENMESH_INGEST_SIGNATURE_REPORT_MS: positiveInt(5000).pipe(z.number().min(100)),
});

export type IngesterEnv = z.output<typeof ingesterEnv>;
