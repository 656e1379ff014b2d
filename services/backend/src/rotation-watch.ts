import type { Db } from '@zenmesh/db';
import type { Logger } from '@zenmesh/telemetry';
import { createIntervalRunner } from './interval-runner.js';
import { emitOperationalEvent, tenantsWithNotifications } from './notifications.js';

/** What the backend reads of the CA's last rotation (CaService.LastRotation). */
export interface RotationSummary {
  id: string;
  phase: string;
  error: string;
  updatedAt: Date;
}

export interface RotationWatchOptions {
  db: Db;
  /** Asks the CA (CaService.LastRotation); undefined when there never was a rotation. */
  lastRotation: () => Promise<RotationSummary | undefined>;
  /** Between polls; default 30 s. */
  intervalMs?: number;
  /** A rollback older than this when first seen is not announced (a backend started long after). Default 1 h. */
  maxAgeMs?: number;
  now?: () => Date;
  logger?: Pick<Logger, 'info' | 'warn'>;
}

export interface RotationWatch {
  /** One poll; answers how many tenants were notified (0 when already notified: the dedupe key decides). */
  pollOnce(): Promise<number>;
  start(): void;
  stop(): Promise<void>;
}

/**
 * A CA rotation is cluster-level; its rollback is announced to every tenant that has a notification endpoint
 * (docs/notifications.md), as `zenmesh.ca.rotation.rolled_back` with the rotation's id and reason. The dedupe
 * key is the rotation id, so repeated polls and several backend replicas notify each tenant once.
 */
export function createRotationWatch(options: RotationWatchOptions): RotationWatch {
  const now = options.now ?? (() => new Date());
  const maxAgeMs = options.maxAgeMs ?? 3_600_000;

  const pollOnce = async (): Promise<number> => {
    const r = await options.lastRotation();
    if (r === undefined || r.phase !== 'rolled_back') return 0;
    if (now().getTime() - r.updatedAt.getTime() > maxAgeMs) return 0;
    let notified = 0;
    for (const tenantId of await tenantsWithNotifications(options.db)) {
      const sent = await options.db.withTenant(tenantId, (tx) =>
        emitOperationalEvent(tx, tenantId, {
          type: 'zenmesh.ca.rotation.rolled_back',
          subject: `ca/rotation/${r.id}`,
          dedupeKey: `ca.rotation.rolled_back:${r.id}`,
          data: { rotationId: r.id, reason: r.error, rolledBackAt: r.updatedAt.toISOString() },
        }),
      );
      if (sent !== undefined) notified += 1;
    }
    if (notified > 0) options.logger?.info({ rotation: r.id, tenants: notified }, 'CA rollback notified');
    return notified;
  };

  const runner = createIntervalRunner(pollOnce, options.intervalMs ?? 30_000, (err) =>
    options.logger?.warn({ err }, 'CA rotation poll failed; retried next time'),
  );
  return { pollOnce, start: runner.start, stop: runner.stop };
}
