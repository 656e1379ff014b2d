import type { ChaosMesh } from './chaos-mesh.js';
import type { ChaosTarget } from './chaos-target.js';
import type { ScenarioResult } from './results.js';
import { deliveryLatencies, percentile, seeded, sendBurst } from './traffic.js';

/** What a fault reports: how long recovery took, or when the fault ended (recovery = then → next 202). */
export type FaultOutcome = { recoveryMs: number } | { restoredAt: number };

export interface FaultOptions {
  scenario: string;
  load: string;
  /** Describes the fault for the table; `{at}` is replaced by the accepted count it was injected at. */
  fault: string;
  /** Injects the fault (and ends it, for an outage). */
  inject(): Promise<FaultOutcome>;
  events: number;
  concurrency: number;
  seed: number;
  keyPrefix: string;
  /** How long to wait for every accepted event to arrive. */
  deliverTimeoutMs?: number;
}

/**
 * A burst of `events` webhooks; at a seeded point between a quarter and half of them accepted, the fault is
 * injected. Every key is retried by the sender until accepted (as a provider would); then every accepted key
 * must arrive at the target.
 */
export async function faultMidBurst(
  cm: ChaosMesh,
  target: ChaosTarget,
  o: FaultOptions,
): Promise<ScenarioResult> {
  const random = seeded(o.seed);
  const at = Math.floor(o.events * (0.25 + 0.25 * random()));
  const keys = Array.from({ length: o.events }, (_, i) => `${o.keyPrefix}-${o.seed}-${i}`);
  let outcome: Promise<FaultOutcome> | undefined;
  const stats = await sendBurst({
    url: cm.ingestUrl,
    secret: cm.sourceSecret,
    keys,
    concurrency: o.concurrency,
    onAccepted: (n) => {
      if (n >= at && !outcome) outcome = o.inject();
    },
  });
  const ended = outcome ? await outcome : undefined;
  let recoveryMs: number | null = null;
  if (ended && 'recoveryMs' in ended) recoveryMs = ended.recoveryMs;
  if (ended && 'restoredAt' in ended) {
    const next = stats.acceptTimes.find((t) => t >= ended.restoredAt);
    recoveryMs = next === undefined ? null : next - ended.restoredAt;
  }
  const accepted = [...stats.accepted.keys()];
  const missing = await target.waitAll(accepted, o.deliverTimeoutMs ?? 180_000);
  return {
    scenario: o.scenario,
    load: o.load,
    fault: o.fault.replace('{at}', String(at)),
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

export interface KillOptions {
  scenario: string;
  load: string;
  /** Process name in endpoints.json (`ca`, `backend-1`, …). */
  victim: string;
  events: number;
  concurrency: number;
  seed: number;
}

/** SIGKILLs `victim` mid-burst; recovery: kill → the launcher reports the replacement ready. */
export const killMidBurst = (cm: ChaosMesh, target: ChaosTarget, o: KillOptions): Promise<ScenarioResult> =>
  faultMidBurst(cm, target, {
    ...o,
    keyPrefix: o.victim,
    fault: `kill -9 ${o.victim} after {at} accepted`,
    inject: async () => ({ recoveryMs: await cm.killAndAwaitRestart(o.victim) }),
  });
