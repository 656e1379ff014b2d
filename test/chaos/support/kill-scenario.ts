import type { ChaosMesh } from './chaos-mesh.js';
import type { ChaosTarget } from './chaos-target.js';
import type { ScenarioResult } from './results.js';
import { deliveryLatencies, percentile, seeded, sendBurst } from './traffic.js';

export interface KillOptions {
  scenario: string;
  load: string;
  /** Process name in endpoints.json (`ca`, `backend-1`, …). */
  victim: string;
  events: number;
  concurrency: number;
  seed: number;
  /** How long to wait for every accepted event to arrive. */
  deliverTimeoutMs?: number;
}

/**
 * A burst of `events` webhooks; at a seeded point between a quarter and half of them accepted, `victim` is
 * SIGKILLed and the launcher restarts it. Every key is retried by the sender until accepted; then every
 * accepted key must arrive at the target. Recovery: kill → the launcher reports the replacement ready.
 */
export async function killMidBurst(
  cm: ChaosMesh,
  target: ChaosTarget,
  o: KillOptions,
): Promise<ScenarioResult> {
  const random = seeded(o.seed);
  const killAt = Math.floor(o.events * (0.25 + 0.25 * random()));
  const keys = Array.from({ length: o.events }, (_, i) => `${o.victim}-${o.seed}-${i}`);
  let restarted: Promise<number> | undefined;
  const stats = await sendBurst({
    url: cm.ingestUrl,
    secret: cm.sourceSecret,
    keys,
    concurrency: o.concurrency,
    onAccepted: (n) => {
      if (n >= killAt && !restarted) restarted = cm.killAndAwaitRestart(o.victim);
    },
  });
  const recoveryMs = restarted ? await restarted : null;
  const accepted = [...stats.accepted.keys()];
  const missing = await target.waitAll(accepted, o.deliverTimeoutMs ?? 180_000);
  return {
    scenario: o.scenario,
    load: o.load,
    fault: `kill -9 ${o.victim} after ${killAt} accepted`,
    sent: keys.length,
    accepted: accepted.length,
    delivered: target.delivered(accepted),
    lost: missing,
    duplicated: target.duplicates(accepted),
    p99Ms: percentile(deliveryLatencies(stats.accepted, target.arrivals), 99),
    recoveryMs,
    notes: `${stats.retryable} answers 503/429 (${stats.retryAfter} with Retry-After), ${stats.connectionErrors} connection errors, refused ${JSON.stringify(Object.fromEntries(stats.refused))}`,
  };
}
