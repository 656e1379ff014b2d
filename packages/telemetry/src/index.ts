export type { Logger, LoggerOptions } from './logger.js';
export { createLogger, REDACT_PATHS } from './logger.js';
export type { SpanOptions, Telemetry } from './tracing.js';
export { SpanKind, startTelemetry, withSpan } from './tracing.js';
