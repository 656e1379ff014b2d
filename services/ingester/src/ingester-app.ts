import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
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
import { createClientIpResolver, sendJson } from '@zenmesh/http';
import type { RecordEventResponse } from '@zenmesh/proto';
import { DEFAULT_TOLERANCE_S } from '@zenmesh/providers';
import { Code } from '@zenmesh/rpc';
import { closeHttp, listenHttp } from '@zenmesh/runtime';
import { createMemoryClaimStore, createRedisClaimStore } from '@zenmesh/shared-state';
import { claimWebhook, createDedupStore } from './dedup-store.js';
import { createEdgeLimits } from './edge-limits.js';
import { eventHeaders } from './event-headers.js';
import type { Ingester, IngesterOptions } from './ingester-options.js';
import { resolveVerifier } from './providers.js';
import { BodyTooLargeError, declaresTooLarge, readBody } from './read-body.js';
import { createRefusalCounter } from './refusal-counter.js';
import {
  INTERNAL,
  INVALID_SIGNATURE,
  type Reply,
  refusal,
  UNAVAILABLE,
  UNKNOWN_SOURCE,
  withHeaders,
} from './replies.js';
import { createSourceCache } from './source-cache.js';
import { sourceToleranceS } from './source-tolerance.js';

const WEBHOOK_ROUTE = /^\/v1\/webhooks\/([^/]+)$/;
// Ids are a type prefix plus 26 base32 characters (@zenmesh/crypto newId); anything else cannot exist.
const SOURCE_ID = /^src_[a-z2-7]{26}$/;
// Printable ASCII: the content type is stored and later sent on as a header by egress.
const CONTENT_TYPE = /^[\x20-\x7e]{1,256}$/;
const DEFAULT_CONTENT_TYPE = 'application/octet-stream';
const TOO_LARGE: Reply = {
  status: 413,
  body: { error: 'payload_too_large' },
  headers: { connection: 'close' },
};

/** The HTTP front door: verifies webhooks, records them through the backend and nudges egress. */
export function createIngester(options: IngesterOptions): Ingester {
  const { events, egress, logger, maxBodyBytes = 1024 * 1024, requestTimeoutMs = 30_000 } = options;
  const { toleranceS = DEFAULT_TOLERANCE_S, now = Date.now, keyPrefix = 'zm:ingest:' } = options;
  const sources = createSourceCache({
    sources: options.sources,
    now,
    ...(options.sourceCacheTtlMs === undefined ? {} : { ttlMs: options.sourceCacheTtlMs }),
    ...(options.unknownSourceTtlMs === undefined ? {} : { negativeTtlMs: options.unknownSourceTtlMs }),
  });
  const refusals = createRefusalCounter(options.meter);
  const storeErrors = createRefusalCounter(
    options.meter,
    'zenmesh_ingest_store_errors',
    'Shared-store (Redis) failures the ingester carried on through, by kind',
  );
  const storeError = (kind: string) => (err: unknown) => {
    storeErrors.increment(kind);
    logger.warn({ err, kind }, 'shared store failed; carrying on without it');
  };
  const dedup = createDedupStore({
    store:
      options.redis === undefined
        ? createMemoryClaimStore()
        : createRedisClaimStore({ redis: options.redis, prefix: keyPrefix }),
    onError: storeError('dedup'),
    ...(options.dedupWaitMs === undefined ? {} : { waitMs: options.dedupWaitMs }),
    ...(options.bodyDedupWindowMs === undefined ? {} : { bodyWindowMs: options.bodyDedupWindowMs }),
  });
  const limits = createEdgeLimits({
    perSource: options.rateLimit ?? { perSecond: 100, burst: 200 },
    perIp: options.ipRateLimit ?? { perSecond: 200, burst: 400 },
    redis: options.redis,
    prefix: keyPrefix,
    onError: storeError('rate'),
  });
  const clientIp = createClientIpResolver(options.trustedProxies ?? []);
  const tracer = trace.getTracer('@zenmesh/ingester');

  async function handleWebhook(
    req: IncomingMessage,
    sourceId: string,
    span: Span,
    ip: string,
  ): Promise<Reply> {
    const refuse = (reason: string, reply: Reply, fields: Record<string, unknown> = {}): Reply => {
      refusals.increment(reason);
      logger.warn({ sourceId, clientIp: ip, ...fields, reason }, 'webhook refused');
      return reply;
    };
    /** Maps a failed backend call to the answer: transient outages ask the sender to retry. */
    const backendFailure = (err: unknown, rpc: string): Reply => {
      const code = (err as { code?: unknown }).code;
      if (code === Code.UNAVAILABLE || code === Code.DEADLINE_EXCEEDED) {
        return refuse('backend_unavailable', UNAVAILABLE, { rpc, err });
      }
      logger.error({ sourceId, rpc, err }, 'backend call failed');
      return INTERNAL;
    };

    // Cheapest refusals first: the client's budget, then the id's shape, then the (cached) source and its
    // budget — all before a byte of the body is read or an HMAC computed.
    const perIp = await limits.ip(ip, now());
    if (!perIp.ok) return refuse('rate_limited_ip', perIp.reply);
    // Answers refused before the source's budget carry the IP budget they were counted against.
    const ipLimited = (reason: string, reply: Reply) => refuse(reason, withHeaders(reply, perIp.headers));
    if (declaresTooLarge(req, maxBodyBytes)) return ipLimited('payload_too_large', TOO_LARGE);
    if (!SOURCE_ID.test(sourceId)) return ipLimited('unknown_source', UNKNOWN_SOURCE);
    let resolved: Awaited<ReturnType<typeof sources.resolve>>;
    try {
      resolved = await sources.resolve(sourceId);
    } catch (err) {
      return backendFailure(err, 'ResolveSource');
    }
    if (resolved?.source === undefined) return ipLimited('unknown_source', UNKNOWN_SOURCE);
    // Taken before verifying: a flood of forgeries costs its sender this source's budget, not our CPU.
    const perSource = await limits.source(sourceId, now());
    if (!perSource.ok) return refuse('rate_limited', perSource.reply);

    let body: Buffer;
    try {
      body = await readBody(req, maxBodyBytes);
    } catch (err) {
      if (err instanceof BodyTooLargeError) return refuse('payload_too_large', TOO_LARGE);
      throw err;
    }

    const { source, secrets } = resolved;
    span.setAttribute('zenmesh.tenant.id', source.tenantId);
    const verifier = resolveVerifier(source);
    if (verifier === undefined) {
      return refuse('unsupported_scheme', INVALID_SIGNATURE, { provider: source.provider });
    }
    const verification = verifier.verify({
      headers: req.headers,
      body,
      secrets,
      nowMs: now(),
      toleranceS: sourceToleranceS(source, toleranceS),
    });
    if (!verification.ok) {
      const reply = 'status' in verification ? refusal(400, verification.reason) : INVALID_SIGNATURE;
      return refuse(verification.reason, reply, { provider: source.provider });
    }
    const webhook = verification.webhook;
    if (webhook.handshake !== undefined) return { status: 200, body: webhook.handshake };
    const contentType = req.headers['content-type'] ?? DEFAULT_CONTENT_TYPE;
    if (!CONTENT_TYPE.test(contentType))
      return refuse('invalid_content_type', refusal(400, 'invalid_content_type'));

    const accepted = (eventId: string, duplicate: boolean): Reply => {
      span.setAttributes({ 'zenmesh.event.id': eventId, 'zenmesh.event.duplicate': duplicate });
      logger.debug({ sourceId, eventId, duplicate }, 'webhook accepted');
      return { status: 202, body: { id: eventId, duplicate }, headers: perSource.headers };
    };

    // Unsigned delivery ids can be changed by whoever captured the request; the signed bytes cannot.
    const unsignedBody = verifier.signsDeliveryId ? undefined : body;
    const claim = await claimWebhook(dedup, sourceId, webhook.deliveryId, unsignedBody);
    if (claim.kind === 'answered') return accepted(claim.eventId, true);

    let recorded: RecordEventResponse;
    try {
      recorded = await events.recordEvent({
        sourceId,
        type: webhook.type,
        time: timestampFromDate(webhook.time ?? new Date(now())),
        datacontenttype: contentType,
        data: body,
        providerDeliveryId: webhook.deliveryId,
        headers: eventHeaders(req.headers),
      });
    } catch (err) {
      if (claim.kind === 'claimed') await claim.release();
      return backendFailure(err, 'RecordEvent');
    }
    const eventId = recorded.event?.id;
    if (eventId === undefined || eventId === '') {
      if (claim.kind === 'claimed') await claim.release();
      logger.error({ sourceId }, 'RecordEvent answered without an event');
      return INTERNAL;
    }
    if (claim.kind === 'claimed') await claim.commit(eventId);

    // The event is committed: from here on a lost nudge loses nothing, because egress also polls.
    if (!recorded.duplicate && recorded.deliveryIds.length > 0) {
      void egress.dispatch({ eventId }).catch((err: unknown) => {
        logger.warn({ eventId, err }, 'egress nudge failed; delivery waits for the next poll');
      });
    }
    return accepted(eventId, recorded.duplicate);
  }

  const send = (res: ServerResponse, reply: Reply): void =>
    sendJson(res, reply.status, reply.body, reply.headers);

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
        const ip = clientIp(req);
        span.setAttribute('client.address', ip);
        let reply: Reply;
        try {
          reply = await handleWebhook(req, sourceId, span, ip);
        } catch (err) {
          logger.error({ sourceId, err }, 'webhook handling failed');
          reply = INTERNAL;
        }
        span.setAttribute('http.response.status_code', reply.status);
        if (reply.status >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
        if (reply.status >= 400 && typeof reply.body.error === 'string') {
          span.setAttribute('zenmesh.refusal.reason', reply.body.error);
        }
        // Refused before its body arrived: close rather than read the rest of it for a keep-alive.
        if (!req.complete) reply = { ...reply, headers: { ...reply.headers, connection: 'close' } };
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
    // How often those two are checked (Node's default is 30 s, which would stretch them).
    connectionsCheckingInterval: Math.min(1_000, requestTimeoutMs),
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
    storeErrors,
    listen: (hostPort) => listenHttp(server, hostPort),
    close: (graceMs = 10_000) => closeHttp(server, graceMs),
  };
}
