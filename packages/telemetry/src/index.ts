export { type HttpObserver, observeHttpRequests, type RouteOf, routeTable } from './http-metrics.js';
export type { Logger, LoggerOptions } from './logger.js';
export { createLogger, REDACT_PATHS } from './logger.js';
export { createMetrics, LATENCY_BUCKETS_S, type Meter, type Metrics } from './metrics.js';
export {
  activeTraceparent,
  annotateActiveSpan,
  contextOfTraceparent,
  traceIdOf,
  traceparentOf,
} from './trace-context.js';
export type { SpanOptions, Telemetry } from './tracing.js';
export { SpanKind, startTelemetry, withSpan } from './tracing.js';
