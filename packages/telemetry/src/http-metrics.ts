import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Meter } from '@opentelemetry/api';
import { LATENCY_BUCKETS_S } from './metrics.js';

/**
 * Maps a request path to its route label. It must return one of a small fixed set (e.g.
 * `/v1/webhooks/{sourceId}`, never the id itself): a label value per source, tenant or token would let any
 * caller grow the series without bound, and a path can carry identifiers that do not belong in metrics.
 */
export type RouteOf = (path: string) => string;

const METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);

interface ServerMessage {
  request: IncomingMessage;
  response: ServerResponse;
  server: Server;
}

export interface HttpObserver {
  /** Stops observing (the subscriptions are process-wide channels: always undo them). */
  stop(): void;
}

/**
 * Records `zenmesh_http_request_duration_seconds{method, route, status}` for every request answered by the
 * node:http servers of this process, from its arrival to the response's last byte, through Node's
 * `http.server.request.start` / `http.server.response.finish` diagnostics channels: the service's handler is
 * not touched, so observing can never change an answer. `include` chooses which servers count (e.g. leave out
 * the metrics listener itself). Methods outside the standard set are `other`.
 */
export function observeHttpRequests(
  meter: Meter,
  routeOf: RouteOf,
  include: (server: Server) => boolean = () => true,
): HttpObserver {
  const duration = meter.createHistogram('zenmesh_http_request_duration_seconds', {
    description: 'HTTP requests answered by this public face, by method, route template and status',
    unit: 's',
    advice: { explicitBucketBoundaries: [...LATENCY_BUCKETS_S] },
  });
  const started = new WeakMap<IncomingMessage, bigint>();
  const onStart = (message: unknown) => {
    const { request, server } = message as ServerMessage;
    if (include(server)) started.set(request, process.hrtime.bigint());
  };
  const onFinish = (message: unknown) => {
    const { request, response } = message as ServerMessage;
    const at = started.get(request);
    if (at === undefined) return;
    started.delete(request);
    const method = METHODS.has(request.method ?? '') ? (request.method as string) : 'other';
    const route = routeOf((request.url ?? '/').split('?', 1)[0] ?? '/');
    const seconds = Number(process.hrtime.bigint() - at) / 1e9;
    duration.record(seconds, { method, route, status: String(response.statusCode) });
  };
  subscribe('http.server.request.start', onStart);
  subscribe('http.server.response.finish', onFinish);
  return {
    stop() {
      unsubscribe('http.server.request.start', onStart);
      unsubscribe('http.server.response.finish', onFinish);
    },
  };
}

/**
 * A `RouteOf` from a fixed table of route templates: `{name}` matches one path segment. A path no template
 * matches is `other`, so the label has at most `templates.length + 1` values.
 */
export function routeTable(templates: readonly string[]): RouteOf {
  const compiled = templates.map((t) => ({
    template: t,
    re: new RegExp(`^${t.replace(/[.*+?^$()|[\]\\]/g, '\\$&').replace(/\{[^/}]+\}/g, '[^/]+')}/?$`),
  }));
  return (path) => compiled.find((c) => c.re.test(path))?.template ?? 'other';
}
