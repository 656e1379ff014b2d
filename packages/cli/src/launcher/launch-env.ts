import { join } from 'node:path';
import { CliError } from '../errors.js';

/** Start order: each service starts after the ones it calls. */
export const SERVICES = ['ca', 'token', 'backend', 'egress', 'ingester', 'bff'] as const;
export type ServiceName = (typeof SERVICES)[number];

/** The parent's environment minus every ZENMESH_* setting: each child gets exactly the ones meant for it. */
export const baseEnv = (): NodeJS.ProcessEnv =>
  Object.fromEntries(
    Object.entries(process.env).filter(([k]) => !k.startsWith('ZENMESH_') || k === 'ZENMESH_HOME'),
  );

/**
 * A service's own tuning variables, passed through from the launcher's environment by prefix (e.g.
 * ZENMESH_INGEST_RATE_LIMIT to the ingester only), so an operator can tune one service without the others
 * seeing it.
 */
export const tuning = (prefix: string): NodeJS.ProcessEnv =>
  Object.fromEntries(Object.entries(process.env).filter(([k]) => k.startsWith(prefix)));

/** What a service's variables are made of besides the common ones. */
export interface ServiceEnvContext {
  host: string;
  ports: { token: number; ingester: number; bff: number };
  bundleFile: string;
  adminKeySha256: string;
  /** The web console's OAuth registration, written by the launcher once the bff listens. */
  consoleClientFile: string;
  svidTtl: number;
  /** Where embedded PGlite databases live, one directory per owning service, when DATABASE_URL is unset. */
  dataDir: string;
  /** gRPC addresses and HTTP URLs of the services started so far. */
  grpc: Record<string, string | undefined>;
  http: Record<string, string | undefined>;
  /** Scrape URLs of the processes started so far (every replica), by process name. */
  metrics?: Record<string, string>;
}

/** The variables of one service: `common` (identity, trust domain, secrets) plus exactly the ones meant for it. */
export function serviceEnv(
  service: ServiceName,
  common: NodeJS.ProcessEnv,
  ctx: ServiceEnvContext,
): NodeJS.ProcessEnv {
  const listen = (port: number) => `${ctx.host}:${port}`;
  const dbEnv = (name: string): NodeJS.ProcessEnv =>
    process.env.DATABASE_URL
      ? { DATABASE_URL: process.env.DATABASE_URL }
      : { ZENMESH_DATA_DIR: join(ctx.dataDir, name) };
  switch (service) {
    case 'ca':
      return {
        ...common,
        ZENMESH_CA_JOIN_LISTEN: `${ctx.host}:0`,
        ZENMESH_CA_BUNDLE_FILE: ctx.bundleFile,
        ZENMESH_SVID_TTL: String(ctx.svidTtl),
        ...passThrough('ZENMESH_CA_CONFIRM_TIMEOUT_MS', 'ZENMESH_CA_REISSUE_TIMEOUT_MS'),
      };
    case 'token':
      return {
        ...common,
        ...tuning('ZENMESH_TOKEN_'),
        ...dbEnv('token'),
        ZENMESH_HTTP_LISTEN: listen(ctx.ports.token),
        ZENMESH_BOOTSTRAP_ADMIN_KEY_SHA256: ctx.adminKeySha256,
      };
    case 'backend':
      return {
        ...common,
        ...dbEnv('backend'),
        ZENMESH_TOKEN_ADDR: ctx.grpc.token,
        ZENMESH_TOKEN_ISSUER: ctx.http.token,
        // Retention and notification tuning (docs/retention.md, docs/notifications.md).
        ...passThrough(
          'ZENMESH_RETENTION_INTERVAL_MS',
          'ZENMESH_RETENTION_BATCH',
          'ZENMESH_SIGNATURE_SPIKE_THRESHOLD',
          'ZENMESH_SIGNATURE_SPIKE_WINDOW_S',
          'ZENMESH_CA_POLL_INTERVAL_MS',
        ),
      };
    case 'egress':
      // Loopback targets are refused by default (SSRF); on one machine the tour's targets live there.
      return {
        ...common,
        ...tuning('ZENMESH_EGRESS_'),
        ZENMESH_BACKEND_ADDR: ctx.grpc.backend,
        ZENMESH_EGRESS_ALLOW_CIDRS: process.env.ZENMESH_EGRESS_ALLOW_CIDRS ?? '127.0.0.0/8,::1/128',
      };
    case 'ingester':
      return {
        ...common,
        ...tuning('ZENMESH_INGEST_'),
        ZENMESH_HTTP_LISTEN: listen(ctx.ports.ingester),
        ZENMESH_BACKEND_ADDR: ctx.grpc.backend,
        ZENMESH_EGRESS_ADDR: ctx.grpc.egress,
      };
    case 'bff':
      return {
        ...common,
        ...tuning('ZENMESH_BFF_'),
        ZENMESH_HTTP_LISTEN: listen(ctx.ports.bff),
        ZENMESH_BACKEND_ADDR: ctx.grpc.backend,
        ZENMESH_TOKEN_ADDR: ctx.grpc.token,
        ZENMESH_INGEST_PUBLIC_URL: ctx.http.ingester,
        ZENMESH_TOKEN_ISSUER: ctx.http.token,
        ZENMESH_CONSOLE_CLIENT_FILE: ctx.consoleClientFile,
        // The overview's refusals by reason: every process started before the bff (the ingester's replicas too).
        ZENMESH_CONSOLE_METRICS_URLS: Object.values(ctx.metrics ?? {}).join(','),
        ...(process.env.JAEGER_UI_URL ? { JAEGER_UI_URL: process.env.JAEGER_UI_URL } : {}),
        ...tuning('ZENMESH_CONSOLE_'),
      };
  }
}

/**
 * `ZENMESH_INSECURE_DISABLE_HMAC=<service>[,<service>…]` weakens the named services on purpose (their servers
 * stop verifying message signatures), so that a test can prove `zenmesh verify` notices. Loud by design.
 */
export function insecureServices(value: string | undefined): Set<string> {
  const names = new Set(
    (value ?? '')
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean),
  );
  for (const name of names) {
    if (!(SERVICES as readonly string[]).includes(name)) {
      throw new CliError('ERR_USAGE', `ZENMESH_INSECURE_DISABLE_HMAC: unknown service ${name}`);
    }
  }
  if (names.size > 0) {
    process.stderr.write(
      `zenmesh: WARNING: message signatures are NOT verified by ${[...names].join(', ')} (ZENMESH_INSECURE_DISABLE_HMAC); never do this outside tests\n`,
    );
  }
  return names;
}

/** Forwards the named variables of the launcher's environment, when set (tests tune the CA with them). */
const passThrough = (...names: string[]): NodeJS.ProcessEnv =>
  Object.fromEntries(names.filter((n) => process.env[n]).map((n) => [n, process.env[n]]));

export function svidTtlFromEnv(value: string | undefined): number {
  if (value === undefined || value === '') return 3600;
  const ttl = Number(value);
  if (!Number.isInteger(ttl) || ttl < 10 || ttl > 24 * 3600) {
    throw new CliError(
      'ERR_USAGE',
      `ZENMESH_SVID_TTL: expected whole seconds between 10 and 86400, got ${value}`,
    );
  }
  return ttl;
}
