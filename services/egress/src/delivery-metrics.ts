import type { LeasedDelivery } from '@zenmesh/proto';
import { LATENCY_BUCKETS_S, type Meter } from '@zenmesh/telemetry';
import type { AttemptResult } from './deliver.js';

/** What the delivery engine records after each attempt. */
export interface DeliveryMetrics {
  attempt(leased: LeasedDelivery, result: AttemptResult): void;
}

/**
 * The attempt's outcome, one of a fixed set (the label of `zenmesh_delivery_attempts_total`): `success` (2xx),
 * `client_error` (4xx), `server_error` (5xx and other statuses), `timeout`, `network_error` (no response:
 * refused, reset, DNS), `refused_target` (the SSRF policy refused the address), `unsignable`.
 */
export function attemptOutcome(result: AttemptResult): string {
  if (result.ok) return 'success';
  if (result.statusCode >= 400 && result.statusCode < 500) return 'client_error';
  if (result.statusCode > 0) return 'server_error';
  if (result.error.startsWith('ssrf_blocked')) return 'refused_target';
  if (result.error.startsWith('cannot sign')) return 'unsignable';
  if (/timeout|timed out|aborted/i.test(result.error)) return 'timeout';
  return 'network_error';
}

/**
 * Egress's delivery metrics: attempts by outcome, each attempt's duration, and the end-to-end latency from
 * the ingester's receipt of the event to its first successful delivery (replays left out: they restart
 * the clock on purpose). Labels are the outcome only: endpoint or tenant ids would be unbounded.
 */
export function createDeliveryMetrics(meter: Meter, now: () => number = Date.now): DeliveryMetrics {
  const attempts = meter.createCounter('zenmesh_delivery_attempts', {
    description: 'Delivery attempts, by outcome',
  });
  const duration = meter.createHistogram('zenmesh_delivery_attempt_duration_seconds', {
    description: 'Duration of one HTTP delivery attempt, by outcome',
    unit: 's',
    advice: { explicitBucketBoundaries: [...LATENCY_BUCKETS_S] },
  });
  const latency = meter.createHistogram('zenmesh_delivery_latency_seconds', {
    description: 'From the event being received to its successful delivery (first schedule only)',
    unit: 's',
    advice: { explicitBucketBoundaries: [...LATENCY_BUCKETS_S, 300, 3600] },
  });
  return {
    attempt(leased, result) {
      const outcome = attemptOutcome(result);
      attempts.add(1, { outcome });
      duration.record(result.durationMs / 1000, { outcome });
      const received = leased.event?.receivedAt;
      if (outcome === 'success' && received !== undefined && (leased.delivery?.replays ?? 0) === 0) {
        const receivedMs = Number(received.seconds) * 1000 + Math.floor(received.nanos / 1e6);
        latency.record(Math.max(0, now() - receivedMs) / 1000);
      }
    },
  };
}
