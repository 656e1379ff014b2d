import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { timestampFromDate } from '@bufbuild/protobuf/wkt';
import {
  type Link,
  propagation,
  ROOT_CONTEXT,
  type Span,
  SpanKind,
  SpanStatusCode,
  trace,
} from '@opentelemetry/api';
import type { RecordEventResponse } from '@zenmesh/proto';
import { Code } from '@zenmesh/rpc';
import type { Logger } from '@zenmesh/telemetry';
import { resolveScheme, verifyGenericHmac } from './generic-hmac.js';
import { BodyTooLargeError, readBody } from './read-body.js';
import { createRefusalCounter, type RefusalCounter } from './refusal-counter.js';
import { createSourceCache, type SourcesClient } from './source-cache.js';

/** The slice of the backend's EventService the ingester uses. */
export interface EventsClient {
  recordEvent(request: {
    sourceId: string;
    type: string;
    time: ReturnType<typeof timestampFromDate>;
    datacontenttype: string;
    data: Uint8Array;
    providerDeliveryId: string;
  }): Promise<RecordEventResponse>;
}

/** The slice of EgressService the ingester uses: a nudge that deliveries of an event are due. */
export interface EgressClient {
  dispatch(request: { eventId: string }): Promise<unknown>;
}

export interface IngesterOptions {
  sources: SourcesClient;
  events: EventsClient;
  egress: EgressClient;
  logger: Logger;
  /** Hard limit on a webhook body; default 1 MiB. */
  maxBodyBytes?: number;
  /** Time allowed to receive a whole request; default 30 s. */
  requestTimeoutMs?: number;
  /** Reports whether the gRPC peers are reachable, for GET /healthz; default: always healthy. */
  health?: () => Promise<boolean>;
  sourceCacheTtlMs?: number;
}

export interface Ingester {
  readonly server: Server;
  readonly refusals: RefusalCounter;
  /** Listens on host:port (port 0 for any) and resolves to the base URL. */
  listen(hostPort: string): Promise<string>;
  /** Stops accepting, lets in-flight requests finish for up to graceMs, then closes what is left. */
  close(graceMs?: number): Promise<void>;
}

const WEBHOOK_ROUTE = /^\/v1\/webhooks\/([^/]+)$/;
// Ids are a type prefix plus 26 base32 characters (@zenmesh/crypto newId); anything else cannot exist.
const SOURCE_ID = /^src_[a-z2-7]{26}$/;
// Visible ASCII only: these values are stored and later sent on as HTTP headers by egress.
const HEADER_TOKEN = /^[\x21-\x7e]{1,256}$/;
const DEFAULT_EVENT_TYPE = 'webhook.received';
const DEFAULT_CONTENT_TYPE = 'application/octet-stream';

type Reply = { status: number; body: Record<string, unknown>; headers?: Record<string, string> };

const refusal = (status: number, error: string): Reply => ({ status, body: { error } });
const UNAVAILABLE: Reply = { status: 503, body: { error: 'unavailable' }, headers: { 'retry-after': '5' } };
const INTERNAL: Reply = refusal(500, 'internal');
// One answer for every signature problem, so a sender learns nothing about which check failed.
const INVALID_SIGNATURE: Reply = refusal(401, 'invalid_signature');

const firstHeader = (value: string | string[] | undefined): string | undefined =>
  Array.isArray(value) ? value[0] : value;

/** The HTTP front door: verifies webhooks, records them through the backend and nudges egress. */
export function createIngester(options: IngesterOptions): Ingester {
  const { events, egress, logger, maxBodyBytes = 1024 * 1024, requestTimeoutMs = 30_000 } = options;
  const sources = createSourceCache({
    sources: options.sources,
    ...(options.sourceCacheTtlMs === undefined ? {} : { ttlMs: options.sourceCacheTtlMs }),
  });
  const refusals = createRefusalCounter();
  const tracer = trace.getTracer('@zenmesh/ingester');

  const refuse = (reason: string, reply: Reply, fields: Record<string, unknown> = {}): Reply => {
    refusals.increment(reason);
    logger.warn({ ...fields, reason }, 'webhook refused');
    return reply;
  };

  /** Maps a failed backend call to the answer: transient outages ask the sender to retry. */
  const backendFailure = (err: unknown, sourceId: string, rpc: string): Reply => {
    const code = (err as { code?: unknown }).code;
    if (code === Code.UNAVAILABLE || code === Code.DEADLINE_EXCEEDED) {
      return refuse('backend_unavailable', UNAVAILABLE, { sourceId, rpc, err });
    }
    logger.error({ sourceId, rpc, err }, 'backend call failed');
    return INTERNAL;
  };

  async function handleWebhook(req: IncomingMessage, sourceId: string, span: Span): Promise<Reply> {
    let body: Buffer;
    try {
      body = await readBody(req, maxBodyBytes);
    } catch (err) {
      if (err instanceof BodyTooLargeError) {
        return refuse(
          'payload_too_large',
          {
            status: 413,
            body: { error: 'payload_too_large' },
            headers: { connection: 'close' },
          },
          { sourceId },
        );
      }
      throw err;
    }

    if (!SOURCE_ID.test(sourceId))
      return refuse('unknown_source', refusal(404, 'unknown_source'), { sourceId });
    let resolved: Awaited<ReturnType<typeof sources.resolve>>;
    try {
      resolved = await sources.resolve(sourceId);
    } catch (err) {
      return backendFailure(err, sourceId, 'ResolveSource');
    }
    if (resolved?.source === undefined) {
      return refuse('unknown_source', refusal(404, 'unknown_source'), { sourceId });
    }

    const { source, secrets } = resolved;
    const scheme = source.provider === 'generic' ? resolveScheme(source.generic) : undefined;
    if (scheme === undefined) {
      return refuse('unsupported_scheme', INVALID_SIGNATURE, { sourceId, provider: source.provider });
    }
    const check = verifyGenericHmac({ scheme, secrets, signatureHeader: req.headers[scheme.header], body });
    if (!check.ok) return refuse(check.reason, INVALID_SIGNATURE, { sourceId });

    const type = firstHeader(req.headers['x-event-type']) ?? DEFAULT_EVENT_TYPE;
    const contentType = req.headers['content-type'] ?? DEFAULT_CONTENT_TYPE;
    const deliveryId =
      firstHeader(req.headers['x-delivery-id']) ?? firstHeader(req.headers['webhook-id']) ?? '';
    if (!HEADER_TOKEN.test(type))
      return refuse('invalid_event_type', refusal(400, 'invalid_event_type'), { sourceId });
    if (contentType.length > 256) return refuse('invalid_content_type', refusal(400, 'invalid_content_type'));
    if (deliveryId !== '' && !HEADER_TOKEN.test(deliveryId)) {
      return refuse('invalid_delivery_id', refusal(400, 'invalid_delivery_id'), { sourceId });
    }

    let recorded: RecordEventResponse;
    try {
      recorded = await events.recordEvent({
        sourceId,
        type,
        time: timestampFromDate(new Date()),
        datacontenttype: contentType,
        data: body,
        providerDeliveryId: deliveryId,
      });
    } catch (err) {
      return backendFailure(err, sourceId, 'RecordEvent');
    }
    const eventId = recorded.event?.id;
    if (eventId === undefined || eventId === '') {
      logger.error({ sourceId }, 'RecordEvent answered without an event');
      return INTERNAL;
    }
    span.setAttributes({ 'zenmesh.event.id': eventId, 'zenmesh.event.duplicate': recorded.duplicate });

    // The event is committed: from here on a lost nudge loses nothing, because egress also polls.
    if (!recorded.duplicate && recorded.deliveryIds.length > 0) {
      void egress.dispatch({ eventId }).catch((err: unknown) => {
        logger.warn({ eventId, err }, 'egress nudge failed; delivery waits for the next poll');
      });
    }
    logger.info({ sourceId, eventId, duplicate: recorded.duplicate }, 'webhook accepted');
    return { status: 202, body: { id: eventId, duplicate: recorded.duplicate } };
  }

  const send = (res: ServerResponse, reply: Reply): void => {
    const payload = JSON.stringify(reply.body);
    res.writeHead(reply.status, {
      'content-type': 'application/json',
      'content-length': Buffer.byteLength(payload),
      ...reply.headers,
    });
    res.end(payload);
  };

  async function webhook(req: IncomingMessage, res: ServerResponse, sourceId: string): Promise<void> {
    // A sender on the internet does not get to pick our trace id; its context is kept as a link only.
    const remote = trace.getSpanContext(propagation.extract(ROOT_CONTEXT, req.headers));
    const links: Link[] = remote === undefined ? [] : [{ context: remote }];
    await tracer.startActiveSpan(
      'POST /v1/webhooks/{sourceId}',
      {
        kind: SpanKind.SERVER,
        root: true,
        links,
        attributes: {
          'http.request.method': 'POST',
          'http.route': '/v1/webhooks/{sourceId}',
          'zenmesh.source.id': sourceId,
        },
      },
      async (span) => {
        let reply: Reply;
        try {
          reply = await handleWebhook(req, sourceId, span);
        } catch (err) {
          logger.error({ sourceId, err }, 'webhook handling failed');
          reply = INTERNAL;
        }
        span.setAttribute('http.response.status_code', reply.status);
        if (reply.status >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
        if (reply.status >= 400 && typeof reply.body.error === 'string') {
          span.setAttribute('zenmesh.refusal.reason', reply.body.error);
        }
        send(res, reply);
        span.end();
      },
    );
  }

  async function route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = new URL(req.url ?? '/', 'http://ingester.invalid').pathname;
    const match = WEBHOOK_ROUTE.exec(path);
    if (match !== null) {
      if (req.method !== 'POST') {
        return send(res, { ...refusal(405, 'method_not_allowed'), headers: { allow: 'POST' } });
      }
      // Ids are plain ASCII, so the raw path segment is the id; anything encoded simply matches nothing.
      return webhook(req, res, match[1] ?? '');
    }
    if (path === '/healthz') {
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        return send(res, { ...refusal(405, 'method_not_allowed'), headers: { allow: 'GET, HEAD' } });
      }
      const healthy = await (options.health?.() ?? Promise.resolve(true)).catch(() => false);
      return send(res, healthy ? { status: 200, body: { status: 'ok' } } : refusal(503, 'unavailable'));
    }
    return send(res, refusal(404, 'not_found'));
  }

  const server = createServer({
    requestTimeout: requestTimeoutMs,
    headersTimeout: Math.min(10_000, requestTimeoutMs),
  });
  server.on('request', (req, res) => {
    route(req, res).catch((err: unknown) => {
      logger.error({ err }, 'request handling failed');
      if (!res.headersSent) send(res, INTERNAL);
      else res.destroy();
    });
  });

  return {
    server,
    refusals,
    async listen(hostPort) {
      const at = hostPort.lastIndexOf(':');
      const host = hostPort.slice(0, at).replace(/^\[|\]$/g, '');
      const port = Number(hostPort.slice(at + 1));
      if (at < 0 || !Number.isInteger(port))
        throw new TypeError(`listen: expected host:port, got ${hostPort}`);
      server.listen(port, host);
      await once(server, 'listening');
      const address = server.address() as AddressInfo;
      const shown = address.family === 'IPv6' ? `[${address.address}]` : address.address;
      return `http://${shown}:${address.port}`;
    },
    async close(graceMs = 10_000) {
      if (!server.listening) return;
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      const timer = setTimeout(() => server.closeAllConnections(), graceMs);
      await closed;
      clearTimeout(timer);
    },
  };
}
