import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { CliError } from './errors.js';

/** The state directory of a local mesh: `$ZENMESH_HOME`, default `.zenmesh/` in the working directory. */
export function zenmeshHome(env: NodeJS.ProcessEnv = process.env): string {
  return resolve(env.ZENMESH_HOME || '.zenmesh');
}

export interface Endpoints {
  ingester: string;
  bff: string;
  token: string;
  /** Internal gRPC addresses (mutual TLS only). */
  grpc: Record<string, string>;
  /** Each service's Prometheus scrape URL (`GET /metrics`, loopback), when metrics are on. */
  metrics?: Record<string, string>;
  /** The CA's join listener (HTTPS, Join with a one-time token only). */
  caJoin?: string;
  /** The launcher's pid. */
  pid: number;
  /** Each service's current pid (updated when the launcher restarts a crashed service). */
  pids: Record<string, number>;
  startedAt: string;
}

export const paths = (home: string) => ({
  home,
  endpoints: join(home, 'endpoints.json'),
  adminKey: join(home, 'admin-api-key'),
  /** The operator's own: master key and cluster keyring (read by the launcher and the CLI only). */
  secrets: join(home, 'secrets'),
  /** One private directory per service (its ZENMESH_SECRETS_DIR), holding only that service's files. */
  workloads: join(home, 'workloads'),
  workload: (service: string) => join(home, 'workloads', service),
  ca: join(home, 'ca'),
  svids: join(home, 'svids'),
  data: join(home, 'data'),
  logs: join(home, 'logs'),
});

export function readEndpoints(home: string): Endpoints {
  const file = paths(home).endpoints;
  if (!existsSync(file)) {
    throw new CliError(
      'ERR_NOT_RUNNING',
      `no running mesh found (${file} is missing); start one with 'pnpm start'`,
    );
  }
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as Endpoints;
  } catch (err) {
    throw new CliError('ERR_STATE', `${file} is not valid JSON`, { cause: err });
  }
}

export function readAdminKey(home: string): string {
  const file = paths(home).adminKey;
  try {
    return readFileSync(file, 'utf8').trim();
  } catch (err) {
    throw new CliError(
      'ERR_STATE',
      `cannot read the admin API key at ${file}; pass --api-key or set ZENMESH_API_KEY`,
      {
        cause: err,
      },
    );
  }
}
