import { createHmac } from 'node:crypto';
import { connect } from 'node:net';
import { create } from '@bufbuild/protobuf';
import { context, propagation, SpanKind, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import { newId } from '@zenmesh/crypto';
import {
  type GenericHmacConfig,
  GenericHmacConfigSchema,
  RecordEventResponseSchema,
  ResolveSourceResponseSchema,
} from '@zenmesh/proto';
import { Code, RpcError } from '@zenmesh/rpc';
import { createLogger } from '@zenmesh/telemetry';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createIngester } from './ingester-app.js';
import type { EventsClient, Ingester } from './ingester-options.js';

const exporter = new InMemorySpanExporter();
context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
propagation.setGlobalPropagator(new W3CTraceContextPropagator());
trace.setGlobalTracerProvider(
  new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] }),
);

type Recorded = Parameters<EventsClient['recordEvent']>[0] & { traceId: string | undefined };

/** Minimal stand-ins for the backend and egress clients; the real backend has its own tests. */
function createFakes() {
  const sources = new Map<string, { generic?: GenericHmacConfig; secrets: string[] }>();
  const recorded: Recorded[] = [];
  const dispatched: { eventId: string; traceId: string | undefined }[] = [];
  const seen = new Map<string, string>();
  let down = false;
  let resolveCalls = 0;
  const unavailable = () => new RpcError(Code.UNAVAILABLE, 'unavailable');
  return {
    sources,
    recorded,
    dispatched,
    get resolveCalls() {
      return resolveCalls;
    },
    setDown(value: boolean) {
      down = value;
    },
    clients: {
      sources: {
        async resolveSource({ sourceId }: { sourceId: string }) {
          resolveCalls += 1;
          if (down) throw unavailable();
          const found = sources.get(sourceId);
          if (found === undefined) throw new RpcError(Code.NOT_FOUND, 'source_not_found');
          return create(ResolveSourceResponseSchema, {
            source: {
              id: sourceId,
              tenantId: 'ten_x',
              provider: 'generic',
              name: 's',
              generic: found.generic,
            },
            secrets: found.secrets,
          });
        },
      },
      events: {
        async recordEvent(request: Parameters<EventsClient['recordEvent']>[0]) {
          if (down) throw unavailable();
          recorded.push({ ...request, traceId: trace.getActiveSpan()?.spanContext().traceId });
          const key = `${request.sourceId}/${request.providerDeliveryId}`;
          const previous = request.providerDeliveryId === '' ? undefined : seen.get(key);
          const id = previous ?? newId('evt');
          if (previous === undefined && request.providerDeliveryId !== '') seen.set(key, id);
          return create(RecordEventResponseSchema, {
            event: { id, sourceId: request.sourceId, type: request.type, data: request.data },
            duplicate: previous !== undefined,
            deliveryIds: [newId('dlv')],
          });
        },
      },
      egress: {
        async dispatch({ eventId }: { eventId: string }) {
          dispatched.push({ eventId, traceId: trace.getActiveSpan()?.spanContext().traceId });
          return {};
        },
      },
    },
  };
}

const hexSig = (secret: string, body: string | Buffer, alg = 'sha256') =>
  createHmac(alg, secret).update(body).digest('hex');

let fakes: ReturnType<typeof createFakes>;
let ingester: Ingester;
let base: string;
const LIMIT = 64 * 1024;
const SECRET = 'whsec-test-current';
const OLD_SECRET = 'whsec-test-previous';
const sha256Source = newId('src');
const sha512Source = newId('src');
const timestampedSource = newId('src');

beforeEach(async () => {
  fakes = createFakes();
  // Both sign the body alone (timestampHeader '', the explicit opt-out); timestampedSource has the default.
  fakes.sources.set(sha256Source, {
    generic: create(GenericHmacConfigSchema, { timestampHeader: '' }),
    secrets: [SECRET, OLD_SECRET],
  });
  fakes.sources.set(timestampedSource, { secrets: [SECRET] });
  fakes.sources.set(sha512Source, {
    generic: create(GenericHmacConfigSchema, {
      header: 'x-hub-sig',
      algorithm: 'sha512',
      encoding: 'base64',
      prefix: '',
      timestampHeader: '',
    }),
    secrets: [SECRET],
  });
  ingester = createIngester({
    ...fakes.clients,
    logger: createLogger('ingester', { level: 'silent' }),
    maxBodyBytes: LIMIT,
  });
  base = await ingester.listen('127.0.0.1:0');
  exporter.reset();
});

afterEach(async () => {
  await ingester.close();
});

const post = (sourceId: string, body: string | Buffer, headers: Record<string, string> = {}) =>
  fetch(`${base}/v1/webhooks/${sourceId}`, { method: 'POST', body, headers });

const expectReply = async (res: Response, status: number, body: unknown) => {
  expect({ status: res.status, body: await res.json() }).toEqual({ status, body });
};

describe('accepted webhooks', () => {
  it('accepts sha256 hex with prefix, records raw bytes and headers, then nudges egress', async () => {
    const body = '{"hello":"world"}';
    const res = await post(sha256Source, body, {
      'x-signature': `sha256=${hexSig(SECRET, body)}`,
      'content-type': 'application/json',
      'x-event-type': 'order.created',
      'x-delivery-id': 'prov-1',
    });
    expect(res.status).toBe(202);
    const reply = (await res.json()) as { id: string; duplicate: boolean };
    expect(reply).toEqual({ id: expect.stringMatching(/^evt_[a-z2-7]{26}$/), duplicate: false });
    expect(fakes.recorded).toHaveLength(1);
    const rec = fakes.recorded[0];
    expect(Buffer.from(rec?.data ?? []).toString()).toBe(body);
    expect(rec).toMatchObject({
      sourceId: sha256Source,
      type: 'order.created',
      datacontenttype: 'application/json',
      providerDeliveryId: 'prov-1',
    });
    await expect.poll(() => fakes.dispatched.map((d) => d.eventId)).toEqual([reply.id]);
  });

  it('accepts sha512 base64 without prefix on a custom header, with defaults for type and content type', async () => {
    const body = Buffer.from([0, 1, 2, 255, 254]);
    const sig = createHmac('sha512', SECRET).update(body).digest('base64');
    const res = await fetch(`${base}/v1/webhooks/${sha512Source}`, {
      method: 'POST',
      body,
      headers: { 'x-hub-sig': sig, 'webhook-id': 'msg_1' },
    });
    expect(res.status).toBe(202);
    expect(fakes.recorded[0]).toMatchObject({
      type: 'webhook.received',
      datacontenttype: 'application/octet-stream',
      providerDeliveryId: 'msg_1',
    });
    expect(Buffer.from(fakes.recorded[0]?.data ?? []).equals(body)).toBe(true);
  });

  it('accepts a body signed with the previous secret during rotation', async () => {
    const body = 'rotated';
    const res = await post(sha256Source, body, { 'x-signature': `sha256=${hexSig(OLD_SECRET, body)}` });
    expect(res.status).toBe(202);
  });

  it('answers a provider retry as a duplicate of the first event without nudging again', async () => {
    const body = 'again';
    const headers = { 'x-signature': `sha256=${hexSig(SECRET, body)}`, 'x-delivery-id': 'same' };
    const first = (await (await post(sha256Source, body, headers)).json()) as { id: string };
    const second = await post(sha256Source, body, headers);
    await expectReply(second, 202, { id: first.id, duplicate: true });
    await expect.poll(() => fakes.dispatched.length).toBe(1);
  });

  it('accepts a body of exactly the limit', async () => {
    const body = Buffer.alloc(LIMIT, 0x61);
    const res = await post(sha256Source, body, { 'x-signature': `sha256=${hexSig(SECRET, body)}` });
    expect(res.status).toBe(202);
  });
});

describe('generic sources with the default scheme (a signed timestamp in x-timestamp)', () => {
  it('accepts "<ts>.<body>" signed, refuses the body alone, a stale or a missing timestamp', async () => {
    const body = '{"n":1}';
    const ts = String(Math.floor(Date.now() / 1000));
    const ok = await post(timestampedSource, body, {
      'x-timestamp': ts,
      'x-signature': `sha256=${hexSig(SECRET, `${ts}.${body}`)}`,
    });
    expect(ok.status).toBe(202);
    // What an opted-out sender would send: refused, the scheme wants a timestamp.
    await expectReply(
      await post(timestampedSource, '{"n":2}', { 'x-signature': `sha256=${hexSig(SECRET, '{"n":2}')}` }),
      401,
      { error: 'invalid_signature' },
    );
    const stale = String(Math.floor(Date.now() / 1000) - 3600);
    await expectReply(
      await post(timestampedSource, body, {
        'x-timestamp': stale,
        'x-signature': `sha256=${hexSig(SECRET, `${stale}.${body}`)}`,
      }),
      401,
      { error: 'invalid_signature' },
    );
    // The timestamp is signed: a fresh one on the old signature does not verify.
    await expectReply(
      await post(timestampedSource, body, {
        'x-timestamp': String(Number(ts) + 1),
        'x-signature': `sha256=${hexSig(SECRET, `${ts}.${body}`)}`,
      }),
      401,
      { error: 'invalid_signature' },
    );
    expect(ingester.refusals.snapshot()).toEqual({
      missing_timestamp: 1,
      timestamp_out_of_tolerance: 1,
      signature_mismatch: 1,
    });
    expect(fakes.recorded).toHaveLength(1);
  });
});

describe('signature refusals', () => {
  const body = '{"n":1}';
  const cases: [string, Record<string, string>, string][] = [
    ['missing header', {}, 'missing_signature'],
    ['empty header', { 'x-signature': '' }, 'missing_signature'],
    ['wrong secret', { 'x-signature': `sha256=${hexSig('not-the-secret', body)}` }, 'signature_mismatch'],
    ['odd-length hex', { 'x-signature': `sha256=${hexSig(SECRET, body).slice(1)}` }, 'malformed_signature'],
    ['non-hex characters', { 'x-signature': `sha256=${'zz'.repeat(32)}` }, 'malformed_signature'],
    ['wrong prefix', { 'x-signature': `sha1=${hexSig(SECRET, body)}` }, 'malformed_signature'],
    ['no prefix', { 'x-signature': hexSig(SECRET, body) }, 'malformed_signature'],
    [
      'digest of the wrong algorithm',
      { 'x-signature': `sha256=${hexSig(SECRET, body, 'sha512')}` },
      'malformed_signature',
    ],
  ];
  for (const [name, headers, reason] of cases) {
    it(`refuses ${name} with 401 invalid_signature (${reason})`, async () => {
      await expectReply(await post(sha256Source, body, headers), 401, { error: 'invalid_signature' });
      expect(fakes.recorded).toHaveLength(0);
      expect(ingester.refusals.snapshot()).toEqual({ [reason]: 1 });
    });
  }

  it('refuses bad base64 and a base64 digest of the wrong length', async () => {
    for (const sig of ['!!notbase64!!', Buffer.alloc(32).toString('base64'), 'abc']) {
      await expectReply(await post(sha512Source, body, { 'x-hub-sig': sig }), 401, {
        error: 'invalid_signature',
      });
    }
    expect(ingester.refusals.snapshot()).toEqual({ malformed_signature: 3 });
  });

  it('refuses a source whose provider scheme is not supported, without recording', async () => {
    const github = newId('src');
    fakes.sources.set(github, { secrets: [SECRET] });
    const original = fakes.clients.sources.resolveSource;
    fakes.clients.sources.resolveSource = async (req) => {
      const answer = await original(req);
      if (answer.source && req.sourceId === github) answer.source.provider = 'bitbucket';
      return answer;
    };
    await ingester.close();
    ingester = createIngester({ ...fakes.clients, logger: createLogger('ingester', { level: 'silent' }) });
    base = await ingester.listen('127.0.0.1:0');
    await expectReply(await post(github, body, { 'x-signature': `sha256=${hexSig(SECRET, body)}` }), 401, {
      error: 'invalid_signature',
    });
    expect(ingester.refusals.snapshot()).toEqual({ unsupported_scheme: 1 });
    expect(fakes.recorded).toHaveLength(0);
  });

  it('refuses a tampered body byte', async () => {
    const sig = `sha256=${hexSig(SECRET, body)}`;
    const tampered = Buffer.from(body);
    tampered[3] = (tampered[3] ?? 0) ^ 1;
    await expectReply(await post(sha256Source, tampered, { 'x-signature': sig }), 401, {
      error: 'invalid_signature',
    });
    expect(ingester.refusals.snapshot()).toEqual({ signature_mismatch: 1 });
    expect(fakes.recorded).toHaveLength(0);
  });
});

/** Sends a raw request and returns the status line and body of the answer, whatever happens to the socket. */
function rawExchange(port: number, head: string, writeBody: (write: (chunk: Buffer) => boolean) => void) {
  return new Promise<string>((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let answer = '';
    let stop = false;
    socket.on('data', (d) => {
      answer += d.toString();
      stop = true;
      if (answer.includes('\r\n\r\n') && answer.trimEnd().endsWith('}')) {
        socket.destroy();
        resolve(answer);
      }
    });
    socket.on('error', (err) => (answer === '' ? reject(err) : resolve(answer)));
    socket.on('close', () => resolve(answer));
    socket.write(head);
    writeBody((chunk) => !stop && socket.write(chunk));
  });
}

describe('size, routing and availability', () => {
  it('refuses a declared oversized body with 413 before reading it, recording nothing', async () => {
    const port = new URL(base).port;
    const answer = await rawExchange(
      Number(port),
      `POST /v1/webhooks/${sha256Source} HTTP/1.1\r\nhost: x\r\ncontent-length: ${LIMIT + 1}\r\nx-signature: sha256=00\r\n\r\n`,
      (write) => write(Buffer.alloc(1024)),
    );
    expect(answer).toMatch(/^HTTP\/1\.1 413 /);
    expect(answer.endsWith('{"error":"payload_too_large"}')).toBe(true);
    expect(fakes.recorded).toHaveLength(0);
    expect(fakes.resolveCalls).toBe(0);
  });

  it('refuses a chunked body once it passes the limit, recording nothing', async () => {
    const port = new URL(base).port;
    const chunk = Buffer.alloc(8 * 1024, 0x62);
    const framed = Buffer.concat([
      Buffer.from(`${chunk.length.toString(16)}\r\n`),
      chunk,
      Buffer.from('\r\n'),
    ]);
    const answer = await rawExchange(
      Number(port),
      `POST /v1/webhooks/${sha256Source} HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n`,
      (write) => {
        const pump = (left: number): void => {
          if (left > 0 && write(framed) !== false) setImmediate(() => pump(left - 1));
        };
        pump(2 * (LIMIT / chunk.length));
      },
    );
    expect(answer).toMatch(/^HTTP\/1\.1 413 /);
    expect(answer.endsWith('{"error":"payload_too_large"}')).toBe(true);
    expect(fakes.recorded).toHaveLength(0);
  });

  it('answers 404 unknown_source alike for a well-formed unknown id and a malformed one', async () => {
    const body = 'x';
    const headers = { 'x-signature': `sha256=${hexSig(SECRET, body)}` };
    await expectReply(await post(newId('src'), body, headers), 404, { error: 'unknown_source' });
    await expectReply(await post('not-an-id', body, headers), 404, { error: 'unknown_source' });
    expect(fakes.recorded).toHaveLength(0);
  });

  it('answers 503 with Retry-After when the backend is unavailable, recording nothing', async () => {
    fakes.setDown(true);
    const body = 'x';
    const res = await post(sha256Source, body, { 'x-signature': `sha256=${hexSig(SECRET, body)}` });
    expect(res.headers.get('retry-after')).toBe('5');
    await expectReply(res, 503, { error: 'unavailable' });
    expect(fakes.recorded).toHaveLength(0);
    expect(fakes.dispatched).toHaveLength(0);
  });

  it('answers 503 when the backend fails after the source was cached', async () => {
    const body = 'x';
    const headers = { 'x-signature': `sha256=${hexSig(SECRET, body)}` };
    expect((await post(sha256Source, body, headers)).status).toBe(202);
    fakes.setDown(true);
    // Another body: the same bytes again would be answered from the dedup store without the backend.
    const res = await post(sha256Source, 'y', { 'x-signature': `sha256=${hexSig(SECRET, 'y')}` });
    expect(res.headers.get('retry-after')).toBe('5');
    await expectReply(res, 503, { error: 'unavailable' });
    expect(fakes.recorded).toHaveLength(1);
    expect(fakes.resolveCalls).toBe(1);
  });

  it('refuses an event type header that cannot be passed on as a header, after verifying', async () => {
    const body = 'x';
    const res = await post(sha256Source, body, {
      'x-signature': `sha256=${hexSig(SECRET, body)}`,
      'x-event-type': 'a'.repeat(257),
    });
    await expectReply(res, 400, { error: 'invalid_event_type' });
    expect(fakes.recorded).toHaveLength(0);
  });

  it('answers 405 for a wrong method and 404 for an unknown route', async () => {
    const get = await fetch(`${base}/v1/webhooks/${sha256Source}`);
    expect(get.headers.get('allow')).toBe('POST');
    await expectReply(get, 405, { error: 'method_not_allowed' });
    await expectReply(await fetch(`${base}/v1/other`, { method: 'POST', body: 'x' }), 404, {
      error: 'not_found',
    });
    await expectReply(await fetch(`${base}/healthz`, { method: 'DELETE' }), 405, {
      error: 'method_not_allowed',
    });
    await expectReply(await fetch(`${base}/healthz`), 200, { status: 'ok' });
  });
});

describe('tracing', () => {
  it('runs one server span per webhook around the backend and egress calls, without the body', async () => {
    const body = 'secret-looking-body';
    const res = await post(sha256Source, body, { 'x-signature': `sha256=${hexSig(SECRET, body)}` });
    const { id } = (await res.json()) as { id: string };
    await expect.poll(() => fakes.dispatched.length).toBe(1);
    const spans = exporter.getFinishedSpans();
    expect(spans).toHaveLength(1);
    const span = spans[0];
    expect(span?.kind).toBe(SpanKind.SERVER);
    expect(span?.attributes).toMatchObject({ 'zenmesh.source.id': sha256Source, 'zenmesh.event.id': id });
    expect(JSON.stringify(span?.attributes)).not.toContain(body);
    const traceId = span?.spanContext().traceId;
    expect(fakes.recorded[0]?.traceId).toBe(traceId);
    expect(fakes.dispatched[0]?.traceId).toBe(traceId);
  });
});

describe('health', () => {
  let unhealthy: Ingester;
  let url: string;
  beforeAll(async () => {
    const f = createFakes();
    unhealthy = createIngester({
      ...f.clients,
      logger: createLogger('ingester', { level: 'silent' }),
      health: async () => false,
    });
    url = await unhealthy.listen('127.0.0.1:0');
  });
  afterAll(() => unhealthy.close());

  it('answers 503 on /healthz when a peer is unreachable', async () => {
    await expectReply(await fetch(`${url}/healthz`), 503, { error: 'unavailable' });
  });
});
