import {
  type Attributes,
  type Context,
  context,
  type Span,
  SpanKind,
  SpanStatusCode,
  trace,
} from '@opentelemetry/api';
import { NodeSDK } from '@opentelemetry/sdk-node';

export interface Telemetry {
  /** Flushes pending spans; never throws (telemetry must not break shutdown). */
  shutdown(): Promise<void>;
  readonly enabled: boolean;
}

/**
 * Starts the OpenTelemetry SDK when OTEL_EXPORTER_OTLP_ENDPOINT is set. The exporter, protocol
 * (OTEL_EXPORTER_OTLP_PROTOCOL, default http/protobuf) and batching come from the standard OTEL_* variables,
 * so Jaeger's OTLP receiver works as is. Without the variable, the API stays a no-op and costs nothing.
 */
export function startTelemetry(service: string, env: NodeJS.ProcessEnv = process.env): Telemetry {
  if (!env.OTEL_EXPORTER_OTLP_ENDPOINT) return { enabled: false, shutdown: async () => {} };
  const sdk = new NodeSDK({
    serviceName: env.OTEL_SERVICE_NAME ?? `zenmesh-${service}`,
    instrumentations: [],
  });
  try {
    sdk.start();
  } catch {
    return { enabled: false, shutdown: async () => {} };
  }
  return {
    enabled: true,
    shutdown: async () => {
      try {
        await sdk.shutdown();
      } catch {
        // A collector that went away must not turn a clean stop into a crash.
      }
    },
  };
}

export interface SpanOptions {
  kind?: SpanKind;
  attributes?: Attributes;
  parent?: Context;
}

/** Runs fn inside an active span; records an exception and ERROR status when fn throws. */
export function withSpan<T>(
  name: string,
  fn: (span: Span) => Promise<T>,
  options: SpanOptions = {},
): Promise<T> {
  const tracer = trace.getTracer('@zenmesh/telemetry');
  const parent = options.parent ?? context.active();
  return tracer.startActiveSpan(
    name,
    { kind: options.kind ?? SpanKind.INTERNAL, attributes: options.attributes ?? {} },
    parent,
    async (span) => {
      try {
        return await fn(span);
      } catch (err) {
        span.setStatus({
          code: SpanStatusCode.ERROR,
          message: err instanceof Error ? err.message : String(err),
        });
        throw err;
      } finally {
        span.end();
      }
    },
  );
}

export { SpanKind };
