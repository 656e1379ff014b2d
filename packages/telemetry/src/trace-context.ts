import {
  type Attributes,
  type Context,
  context,
  isSpanContextValid,
  ROOT_CONTEXT,
  TraceFlags,
  trace,
} from '@opentelemetry/api';

const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

/**
 * The W3C `traceparent` (https://www.w3.org/TR/trace-context/#traceparent-header) of the span active in
 * `ctx`, or undefined when there is none (tracing off): what is stored with an event so its later hops
 * join its trace.
 */
export function traceparentOf(ctx: Context): string | undefined {
  const span = trace.getSpanContext(ctx);
  if (span === undefined || !isSpanContextValid(span)) return undefined;
  const flags = (span.traceFlags & 0xff).toString(16).padStart(2, '0');
  return `00-${span.traceId}-${span.spanId}-${flags}`;
}

/**
 * A context whose parent is the span `traceparent` names (version 00 only; anything else, an all-zero id
 * included, gives ROOT_CONTEXT): new spans in it join that trace.
 */
export function contextOfTraceparent(traceparent: string | undefined, base: Context = ROOT_CONTEXT): Context {
  const m = TRACEPARENT.exec(traceparent ?? '');
  if (m === null) return base;
  const spanContext = {
    traceId: m[1] as string,
    spanId: m[2] as string,
    traceFlags: Number.parseInt(m[3] as string, 16) & TraceFlags.SAMPLED,
    isRemote: true,
  };
  return isSpanContextValid(spanContext) ? trace.setSpanContext(base, spanContext) : base;
}

/** The trace id inside a traceparent, or '' when it is not one. */
export const traceIdOf = (traceparent: string | undefined): string =>
  TRACEPARENT.exec(traceparent ?? '')?.[1] ?? '';

/** The traceparent of the span active now (e.g. an RPC handler's server span), or undefined. */
export const activeTraceparent = (): string | undefined => traceparentOf(context.active());

/** Adds attributes (ids only: never a secret or a payload) to the span active now, if any. */
export function annotateActiveSpan(attributes: Attributes): void {
  trace.getActiveSpan()?.setAttributes(attributes);
}
