import type { Db } from '@zenmesh/db';
import type { Logger } from '@zenmesh/telemetry';
import { appendAudit } from './audit.js';
import { createIntervalRunner } from './interval-runner.js';

/** What one run purged of one tenant. */
export interface TenantPurge {
  tenantId: string;
  events: number;
  deliveries: number;
  attempts: number;
  auditRows: number;
  /** Why this tenant's purge stopped early (a refused cutoff, a lock timeout); the next run tries again. */
  error?: string;
}

export interface RetentionJobOptions {
  db: Db;
  /** Injectable clock: the cutoffs are `now() - retention` by it (tests freeze it). */
  now?: () => Date;
  /** Rows per transaction (core.purge_events/purge_audit refuse more than 5000). Default 500. */
  batchSize?: number;
  /** Transactions per tenant per run, so one huge backlog cannot hold a run for long. Default 20. */
  maxBatchesPerRun?: number;
  /** Between runs; default 10 minutes. */
  intervalMs?: number;
  logger?: Pick<Logger, 'info' | 'warn'>;
}

export interface RetentionJob {
  /** One pass over every tenant (each batch its own short transaction); what it purged. */
  runOnce(): Promise<TenantPurge[]>;
  /** Runs every `intervalMs` until stop(); a run that fails is logged and the next one tries again. */
  start(): void;
  stop(): Promise<void>;
}

const DAY_MS = 86_400_000;
const SYSTEM = { actor: 'system', via: 'retention' };

interface TenantRetention {
  id: string;
  retention_days: number;
  audit_retention_days: number;
}

/**
 * The backend's retention purge (docs/retention.md). Every tenant's events older than its retention go, in
 * batches of `batchSize` through core.purge_events (which keeps any event a delivery still needs, and locks
 * SKIP LOCKED), then its audit rows older than its audit retention through core.purge_audit (which moves the
 * chain's checkpoint). Safe with several backend replicas: each batch tries a per-tenant advisory lock and
 * does nothing when another replica holds it. A run that purged anything leaves one audit row per tenant.
 */
export function createRetentionJob(options: RetentionJobOptions): RetentionJob {
  const { db } = options;
  const now = options.now ?? (() => new Date());
  const batchSize = options.batchSize ?? 500;
  const maxBatches = options.maxBatchesPerRun ?? 20;
  const intervalMs = options.intervalMs ?? 600_000;
  if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > 5000)
    throw new TypeError('createRetentionJob: batchSize must be an integer in 1..5000');

  const purgeTenant = async (t: TenantRetention): Promise<TenantPurge> => {
    const out: TenantPurge = { tenantId: t.id, events: 0, deliveries: 0, attempts: 0, auditRows: 0 };
    const eventCutoff = new Date(now().getTime() - t.retention_days * DAY_MS);
    for (let i = 0; i < maxBatches; i++) {
      const r = await db.withTenant(t.id, async (tx) => {
        const { rows } = await tx.query<{ events: number; deliveries: number; attempts: number }>(
          'select events, deliveries, attempts from core.purge_events($1, $2, $3)',
          [t.id, eventCutoff, batchSize],
        );
        return rows[0] ?? { events: 0, deliveries: 0, attempts: 0 };
      });
      out.events += r.events;
      out.deliveries += r.deliveries;
      out.attempts += r.attempts;
      if (r.events < batchSize) break;
    }
    const auditCutoff = new Date(now().getTime() - t.audit_retention_days * DAY_MS);
    for (let i = 0; i < maxBatches; i++) {
      const n = await db.withTenant(t.id, async (tx) => {
        const { rows } = await tx.query<{ n: number }>('select core.purge_audit($1, $2, $3) as n', [
          t.id,
          auditCutoff,
          batchSize,
        ]);
        return rows[0]?.n ?? 0;
      });
      out.auditRows += n;
      if (n < batchSize) break;
    }
    if (out.events + out.auditRows > 0) {
      await db.withTenant(t.id, (tx) =>
        appendAudit(tx, t.id, SYSTEM, {
          action: 'tenant.retention.purge',
          target: `tenant/${t.id}`,
          before: null,
          after: { ...out, eventCutoff: eventCutoff.toISOString(), auditCutoff: auditCutoff.toISOString() },
        }),
      );
    }
    return out;
  };

  const runOnce = async (): Promise<TenantPurge[]> => {
    const { rows: tenants } = await db.query<TenantRetention>(
      'select id, retention_days, audit_retention_days from core.list_tenants()',
    );
    const done: TenantPurge[] = [];
    // One tenant's failure (a lock timeout, a refused cutoff) does not hold the others back.
    for (const t of tenants) {
      try {
        done.push(await purgeTenant(t));
      } catch (err) {
        options.logger?.warn({ err, tenantId: t.id }, 'retention purge of a tenant failed; retried next run');
        const message = err instanceof Error ? err.message : String(err);
        done.push({ tenantId: t.id, events: 0, deliveries: 0, attempts: 0, auditRows: 0, error: message });
      }
    }
    const purged = done.filter((d) => d.events + d.auditRows > 0);
    if (purged.length > 0) options.logger?.info({ purged }, 'retention purge');
    return done;
  };

  const runner = createIntervalRunner(runOnce, intervalMs, (err) =>
    options.logger?.warn({ err }, 'retention purge failed; retried next run'),
  );
  return { runOnce, start: runner.start, stop: runner.stop };
}
