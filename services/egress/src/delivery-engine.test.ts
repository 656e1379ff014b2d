import type { ServerResponse } from 'node:http';
import { context, propagation, ROOT_CONTEXT, SpanKind, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import { newId } from '@zenmesh/crypto';
import { Code } from '@zenmesh/rpc';
import { createLogger } from '@zenmesh/telemetry';
import { Webhook } from 'standardwebhooks';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createDeliveryEngine, type DeliveryEngine } from './delivery-engine.js';
import { createEgressService } from './egress-service.js';
import {
  createFakeBackend,
  leased,
  type Received,
  type Report,
  secret,
  startTarget,
} from './test-fixtures.js';

// The targets here listen on 127.0.0.1, which the SSRF policy refuses unless allowed.
const LOOPBACK = { allow: ['127.0.0.0/8'] };

const exporter = new InMemorySpanExporter();
context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
propagation.setGlobalPropagator(new W3CTraceContextPropagator());
trace.setGlobalTracerProvider(
  new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] }),
);

const logger = createLogger('egress', { level: 'silent' });
let backend: ReturnType<typeof createFakeBackend>;
let target: Awaited<ReturnType<typeof startTarget>> | undefined;
let engine: DeliveryEngine | undefined;

beforeEach(() => {
  backend = createFakeBackend();
  exporter.reset();
});

afterEach(async () => {
  await engine?.stop(1_000);
  await target?.close();
  engine = undefined;
  target = undefined;
});

const start = (options: { concurrency?: number; timeoutMs?: number; pollMs?: number } = {}) => {
  engine = createDeliveryEngine({
    deliveries: backend.client,
    logger,
    pollMs: 20,
    targetPolicy: LOOPBACK,
    ...options,
  });
  engine.start();
  return engine;
};

describe('signed delivery', () => {
  it('delivers a Standard Webhooks request that verifies with either secret during rotation', async () => {
    target = await startTarget((res) => res.writeHead(204).end());
    const [current, previous] = [secret(), secret()];
    const item = leased(target.url, [current, previous]);
    backend.queue.push(item);
    start();
    await expect.poll(() => backend.reports.length).toBe(1);

    const got = target.received[0] as Received;
    expect(got.body.toString()).toBe('{"order":42}');
    const headers = got.headers as Record<string, string>;
    for (const s of [current, previous]) {
      expect(new Webhook(s).verify(got.body.toString(), headers)).toEqual({ order: 42 });
    }
    expect(() => new Webhook(secret()).verify(got.body.toString(), headers)).toThrow();
    expect(headers['webhook-signature']?.split(' ')).toHaveLength(2);
    expect(headers).toMatchObject({
      'content-type': 'application/json',
      'webhook-id': item.event?.id,
      'ce-specversion': '1.0',
      'ce-id': item.event?.id,
      'ce-source': '/sources/src_x',
      'ce-type': 'order.created',
      'ce-time': '2026-01-02T03:04:05.678Z',
    });
    expect(headers.traceparent).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-0[01]$/);
    expect(backend.reports[0]).toMatchObject({
      deliveryId: item.delivery?.id,
      leaseToken: item.leaseToken,
      statusCode: 204,
      error: '',
      retryAfterS: 0,
    });
  });

  it('verifies a multi-byte UTF-8 body and delivers a binary body byte for byte', async () => {
    target = await startTarget((res) => res.writeHead(200).end('ok'));
    const s = secret();
    const text = leased(target.url, [s], '{"name":"Zoë 🚀"}');
    const binary = leased(target.url, [s]);
    if (binary.event) binary.event.data = new Uint8Array([0xff, 0x00, 0x80]);
    backend.queue.push(text, binary);
    start();
    await expect.poll(() => backend.reports.length).toBe(2);
    const byId = (id: string | undefined) =>
      target?.received.find((r) => r.headers['webhook-id'] === id) as Received;
    const got = byId(text.event?.id);
    expect(new Webhook(s).verify(got.body, got.headers as Record<string, string>)).toEqual({
      name: 'Zoë 🚀',
    });
    expect([...byId(binary.event?.id).body]).toEqual([0xff, 0x00, 0x80]);
    expect(backend.reports.map((r) => r.statusCode)).toEqual([200, 200]);
  });
});

describe('failed attempts', () => {
  it('reports a 5xx as a failure with its Retry-After seconds', async () => {
    target = await startTarget((res) => res.writeHead(503, { 'retry-after': '120' }).end('busy'));
    backend.queue.push(leased(target.url, [secret()]));
    start();
    await expect.poll(() => backend.reports.length).toBe(1);
    expect(backend.reports[0]).toMatchObject({
      statusCode: 503,
      error: 'unexpected status 503',
      retryAfterS: 120,
    });
  });

  it('reports a 429 with an HTTP-date Retry-After in seconds from now', async () => {
    const at = new Date(Date.now() + 3_600_000).toUTCString();
    target = await startTarget((res) => res.writeHead(429, { 'retry-after': at }).end());
    backend.queue.push(leased(target.url, [secret()]));
    start();
    await expect.poll(() => backend.reports.length).toBe(1);
    const report = backend.reports[0] as Report;
    expect(report.statusCode).toBe(429);
    expect(report.retryAfterS).toBeGreaterThan(3_500);
    expect(report.retryAfterS).toBeLessThanOrEqual(3_600);
  });

  it('does not follow a redirect: a 3xx is a failed attempt and the other host sees nothing', async () => {
    const elsewhere = await startTarget((res) => res.writeHead(200).end());
    target = await startTarget((res) => res.writeHead(307, { location: elsewhere.url }).end());
    backend.queue.push(leased(target.url, [secret()]));
    start();
    await expect.poll(() => backend.reports.length).toBe(1);
    expect(backend.reports[0]).toMatchObject({ statusCode: 307, error: 'unexpected status 307' });
    expect(elsewhere.received).toHaveLength(0);
    await elsewhere.close();
  });

  it('reports a timeout with no status code', async () => {
    target = await startTarget(() => {
      // Never answers.
    });
    backend.queue.push(leased(target.url, [secret()]));
    start({ timeoutMs: 200 });
    await expect.poll(() => backend.reports.length).toBe(1);
    expect(backend.reports[0]).toMatchObject({ statusCode: 0, error: 'timeout', retryAfterS: 0 });
  });

  it('reports a refused connection with no status code', async () => {
    const gone = await startTarget(() => {});
    const url = gone.url;
    await gone.close();
    backend.queue.push(leased(url, [secret()]));
    start();
    await expect.poll(() => backend.reports.length).toBe(1);
    expect(backend.reports[0]).toMatchObject({ statusCode: 0, error: expect.stringMatching(/ECONNREFUSED/) });
  });

  it('reports a delivery it cannot sign instead of dropping it', async () => {
    target = await startTarget((res) => res.writeHead(200).end());
    backend.queue.push(leased(target.url, ['not-a-whsec-secret']));
    start();
    await expect.poll(() => backend.reports.length).toBe(1);
    expect(backend.reports[0]).toMatchObject({
      statusCode: 0,
      error: expect.stringMatching(/^cannot sign: /),
    });
    expect(target.received).toHaveLength(0);
  });

  it('reads at most a capped amount of a large response and still reports the status', async () => {
    target = await startTarget((res) => res.writeHead(200).end(Buffer.alloc(4 * 1024 * 1024)));
    backend.queue.push(leased(target.url, [secret()]));
    start();
    await expect.poll(() => backend.reports.length).toBe(1);
    expect(backend.reports[0]).toMatchObject({ statusCode: 200, error: '' });
  });
});

describe('concurrency and lifecycle', () => {
  it('never has more deliveries in flight than the limit, and delivers them all', async () => {
    const held: ServerResponse[] = [];
    target = await startTarget((res) => held.push(res));
    for (let i = 0; i < 10; i++) backend.queue.push(leased(target.url, [secret()]));
    const running = start({ concurrency: 3 });
    await expect.poll(() => held.length).toBe(3);
    expect(running.inFlight).toBe(3);
    // Leases are only taken for free slots: while all three are busy, polling asks for nothing.
    expect(backend.leaseCalls.every((c) => c.max <= 3)).toBe(true);
    expect(backend.queue).toHaveLength(7);
    const release = setInterval(() => {
      for (const res of held.splice(0)) res.writeHead(200).end();
    }, 5);
    await expect.poll(() => backend.reports.length).toBe(10);
    clearInterval(release);
    expect(target.maxActive).toBe(3);
    expect(backend.reports.every((r) => r.statusCode === 200)).toBe(true);
  });

  it('overlaps lease rounds while attempts are in flight, and still never exceeds the limit', async () => {
    // A slow backend: one round takes far longer than an attempt, so with one round at a time the
    // slots would sit empty while it answers.
    backend = createFakeBackend({ leaseDelayMs: 40 });
    target = await startTarget((res) => setTimeout(() => res.writeHead(200).end(), 5));
    for (let i = 0; i < 40; i++) backend.queue.push(leased(target.url, [secret()]));
    start({ concurrency: 4, pollMs: 60_000 });
    await expect.poll(() => backend.reports.length, { timeout: 20_000 }).toBe(40);
    expect(backend.overlap.max).toBeGreaterThanOrEqual(2);
    // Two completion rounds and the poll at most, never more.
    expect(backend.overlap.max).toBeLessThanOrEqual(3);
    expect(target.maxActive).toBeLessThanOrEqual(4);
    // Rounds under way together never ask for more slots than are free.
    expect(backend.leaseCalls.every((c) => c.max <= 4)).toBe(true);
  });

  it('lets a delivery in flight finish on stop, then refuses nudges', async () => {
    const held: ServerResponse[] = [];
    target = await startTarget((res) => held.push(res));
    backend.queue.push(leased(target.url, [secret()]));
    const running = start();
    await expect.poll(() => held.length).toBe(1);
    const stopped = running.stop(10_000);
    setImmediate(() => held[0]?.writeHead(200).end());
    await stopped;
    expect(backend.reports).toMatchObject([{ statusCode: 200 }]);
    expect(running.nudge(newId('evt'))).toBe(false);
  });
});

describe('Dispatch nudge', () => {
  it('leases at once on a nudge and parents the attempt span on the caller trace', async () => {
    target = await startTarget((res) => res.writeHead(200).end());
    const item = leased(target.url, [secret()]);
    backend.queue.push(item);
    // A long poll interval: only the nudge can deliver within this test.
    engine = createDeliveryEngine({
      deliveries: backend.client,
      logger,
      pollMs: 60_000,
      targetPolicy: LOOPBACK,
    });
    const service = createEgressService(engine);
    const caller = trace.getTracer('test').startSpan('ingester', { kind: SpanKind.SERVER }, ROOT_CONTEXT);
    const answer = await context.with(trace.setSpan(ROOT_CONTEXT, caller), () =>
      service.dispatch(
        { $typeName: 'zenmesh.v1.DispatchRequest', eventId: item.event?.id ?? '' },
        {} as never,
      ),
    );
    expect(answer).toEqual({ accepted: true });
    await expect.poll(() => backend.reports.length).toBe(1);
    caller.end();
    // A nudge leases whatever is due (it stands for every event committed before it).
    expect(backend.leaseCalls[0]?.eventId).toBe('');
    const traceId = caller.spanContext().traceId;
    expect((target.received[0]?.headers.traceparent as string).split('-')[1]).toBe(traceId);
    await expect
      .poll(() =>
        exporter
          .getFinishedSpans()
          .map((s) => s.name)
          .sort(),
      )
      .toEqual(['egress.dispatch', 'ingester', 'webhook.deliver']);
    const deliver = exporter.getFinishedSpans().find((s) => s.name === 'webhook.deliver');
    expect(deliver?.kind).toBe(SpanKind.CLIENT);
    expect(deliver?.spanContext().traceId).toBe(traceId);
    expect(deliver?.attributes['server.address']).toBe(new URL(target.url).host);
  });

  it('folds nudges that arrive while a round is under way into one round after it', async () => {
    backend = createFakeBackend({ leaseDelayMs: 50 });
    engine = createDeliveryEngine({
      deliveries: backend.client,
      logger,
      pollMs: 60_000,
      targetPolicy: LOOPBACK,
    });
    for (let i = 0; i < 5; i++) expect(engine.nudge(newId('evt'))).toBe(true);
    // One round now, one after it for the four that came while it ran (it may have read before they committed).
    await expect.poll(() => backend.leaseCalls.length).toBe(2);
    await new Promise((r) => setTimeout(r, 120));
    expect(backend.leaseCalls).toHaveLength(2);
    expect(backend.overlap.max).toBe(1);
  });

  it('refuses a malformed event id with INVALID_ARGUMENT', async () => {
    engine = createDeliveryEngine({ deliveries: backend.client, logger, targetPolicy: LOOPBACK });
    const service = createEgressService(engine);
    await expect(
      service.dispatch({ $typeName: 'zenmesh.v1.DispatchRequest', eventId: 'nope' }, {} as never),
    ).rejects.toMatchObject({ code: Code.INVALID_ARGUMENT, reason: 'invalid_event_id' });
    expect(backend.leaseCalls).toHaveLength(0);
  });

  it('reports finished attempts with the next lease round, not one call each, and flushes them on stop', async () => {
    let hold: (() => void) | undefined;
    target = await startTarget((res, r) => {
      if (r.body.toString() === '{"slow":true}') hold = () => res.writeHead(204).end();
      else res.writeHead(204).end();
    });
    const url = target.url;
    for (let i = 0; i < 6; i++) backend.queue.push(leased(url, [secret()]));
    start({ pollMs: 60_000 });
    await expect.poll(() => backend.reports.length, { timeout: 10_000 }).toBe(6);
    expect(backend.single).toHaveLength(0);
    const carried = backend.leaseCalls.reduce((n, c) => n + c.reports, 0);
    expect(carried).toBe(6);
    expect(backend.leaseCalls.filter((c) => c.reports > 0).length).toBeLessThanOrEqual(6);

    backend.queue.push(leased(url, [secret()], '{"slow":true}'));
    engine?.nudge(backend.queue[0]?.event?.id ?? '');
    await expect.poll(() => hold !== undefined, { timeout: 10_000 }).toBe(true);
    const stopping = engine?.stop(10_000);
    hold?.();
    await stopping;
    expect(backend.reports).toHaveLength(7);
    expect(backend.leaseCalls.at(-1)).toMatchObject({ max: 0, reports: 1 });
  });
});
