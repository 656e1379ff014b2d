import type { IncomingMessage, ServerResponse } from 'node:http';
import { createNoopMeter, type Meter } from '@opentelemetry/api';
import { PrometheusExporter } from '@opentelemetry/exporter-prometheus';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { MeterProvider } from '@opentelemetry/sdk-metrics';

export type { Meter } from '@opentelemetry/api';

/** One process's metrics: the meter every part records into, and the Prometheus text of what it holds. */
export interface Metrics {
  /** Where instruments are created. A no-op meter when metrics are off. */
  readonly meter: Meter;
  readonly enabled: boolean;
  /** Answers a scrape (`GET /metrics`) with the Prometheus text exposition format. */
  handle(req: IncomingMessage, res: ServerResponse): void;
  shutdown(): Promise<void>;
}

/**
 * The process's meter provider, read by Prometheus through a pull reader (`@opentelemetry/exporter-prometheus`,
 * decision 0005): nothing is sent anywhere, a scraper asks. OpenTelemetry names map to Prometheus names by
 * replacing dots with underscores and suffixing counters with `_total`; our instruments are named in that form
 * already (`zenmesh_delivery_attempts`) so the dashboard's names are the code's names. The provider is returned,
 * never installed as the global one: whoever records is handed `meter`.
 */
export function createMetrics(service: string, options: { enabled: boolean }): Metrics {
  if (!options.enabled) {
    return {
      meter: createNoopMeter(),
      enabled: false,
      handle: (_req, res) => {
        res.statusCode = 404;
        res.end();
      },
      shutdown: async () => {},
    };
  }
  // `service_name` on every series: the dashboard tells services apart whatever the scrape config's job names.
  const exporter = new PrometheusExporter({
    preventServerStart: true,
    withoutScopeInfo: true,
    withResourceConstantLabels: /^service\.name$/,
  });
  const provider = new MeterProvider({
    resource: resourceFromAttributes({ 'service.name': `zenmesh-${service}` }),
    readers: [exporter],
  });
  return {
    meter: provider.getMeter('@zenmesh/telemetry'),
    enabled: true,
    handle: (req, res) => exporter.getMetricsRequestHandler(req, res),
    async shutdown() {
      try {
        await provider.shutdown();
      } catch {
        // Metrics must not turn a clean stop into a crash.
      }
    },
  };
}

/** Bucket bounds, in seconds, of every latency histogram: 5 ms to 60 s. */
export const LATENCY_BUCKETS_S: readonly number[] = [
  0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60,
];
