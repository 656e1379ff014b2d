import { CliError } from '../errors.js';
import type { ServiceName } from './launch-env.js';

/** Services `zenmesh up --replicas` can run more than once: stateless, or sharing Postgres and Redis. */
export const REPLICABLE = ['ingester', 'backend', 'egress'] as const;
const MAX_REPLICAS = 8;

export type ReplicaCounts = Readonly<Record<ServiceName, number>>;

/** Parses `ingester=2,backend=2,egress=2` (unnamed services run once). Refuses anything else by name. */
export function parseReplicas(value: string | undefined): ReplicaCounts {
  const counts: Record<ServiceName, number> = { ca: 1, token: 1, backend: 1, egress: 1, ingester: 1, bff: 1 };
  for (const item of (value ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)) {
    const m = /^([a-z]+)=(\d+)$/.exec(item);
    if (!m) throw new CliError('ERR_USAGE', `--replicas: expected service=count, got "${item}"`);
    const [, name = '', n = ''] = m;
    if (!(REPLICABLE as readonly string[]).includes(name)) {
      throw new CliError(
        'ERR_USAGE',
        `--replicas: ${name} cannot run as replicas here (only ${REPLICABLE.join(', ')}; ca and token hold one writer's files, bff is one admin face)`,
      );
    }
    const count = Number(n);
    if (count < 1 || count > MAX_REPLICAS) {
      throw new CliError('ERR_USAGE', `--replicas: ${name}=${n}: expected 1 to ${MAX_REPLICAS}`);
    }
    counts[name as ServiceName] = count;
  }
  return counts;
}

/**
 * More than one instance needs what the instances share: Redis for nonces, webhook dedup and rate limits
 * (issue 12 defect 11; each service refuses too), and Postgres for backend replicas (embedded PGlite is one
 * process's private directory).
 */
export function requireSharedStores(counts: ReplicaCounts, env: NodeJS.ProcessEnv): void {
  const replicated = Object.entries(counts).filter(([, n]) => n > 1);
  if (replicated.length === 0) return;
  const list = replicated.map(([s, n]) => `${s}=${n}`).join(',');
  if (!env.REDIS_URL) {
    throw new CliError(
      'ERR_USAGE',
      `--replicas ${list}: REDIS_URL is unset; replicas must share one nonce, dedup and rate-limit store (set REDIS_URL=redis://…)`,
    );
  }
  if (counts.backend > 1 && !env.DATABASE_URL) {
    throw new CliError(
      'ERR_USAGE',
      `--replicas ${list}: DATABASE_URL is unset; backend replicas must share one Postgres (embedded PGlite is one process's own)`,
    );
  }
}

/** A replica's name in logs, endpoints.json and messages: the service's own name when it runs once. */
export const replicaName = (service: ServiceName, index: number, count: number): string =>
  count > 1 ? `${service}-${index + 1}` : service;
