import { createHmac } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { connect } from 'node:net';
import { create } from '@bufbuild/protobuf';
import { newId } from '@zenmesh/crypto';
import { RecordEventResponseSchema, ResolveSourceResponseSchema } from '@zenmesh/proto';
import { Code, RpcError } from '@zenmesh/rpc';
import { createLogger } from '@zenmesh/telemetry';
import { afterEach, describe, expect, it } from 'vitest';
import { createClientIpResolver } from './client-ip.js';
import { createIngester, type Ingester, type IngesterOptions } from './ingester-app.js';
import { createRateLimiter } from './rate-limiter.js';

const fakeReq = (remote: string, xff?: string | string[]) =>
  ({
    socket: { remoteAddress: remote },
    headers: xff === undefined ? {} : { 'x-forwarded-for': xff },
  }) as unknown as IncomingMessage;

describe('client IP from trusted proxies only', () => {
  const resolve = createClientIpResolver(['10.0.0.0/8', '::1', '192.168.1.7']);
  it('takes the socket peer when it is not a trusted proxy, whatever X-Forwarded-For says', () => {
    expect(resolve(fakeReq('203.0.113.9', '1.1.1.1'))).toBe('203.0.113.9');
    expect(resolve(fakeReq('::ffff:203.0.113.9', '1.1.1.1'))).toBe('203.0.113.9');
  });
  it('walks X-Forwarded-For right to left past trusted proxies, ignoring what the client wrote', () => {
    expect(resolve(fakeReq('10.1.2.3', '6.6.6.6, 198.51.100.4, 10.9.9.9'))).toBe('198.51.100.4');
    expect(resolve(fakeReq('::1', ['6.6.6.6', '198.51.100.4,192.168.1.7']))).toBe('198.51.100.4');
  });
  it('stops at a malformed hop, and without the header keeps the proxy', () => {
    expect(resolve(fakeReq('10.1.2.3', 'evil, 10.2.2.2'))).toBe('10.2.2.2');
    expect(resolve(fakeReq('10.1.2.3'))).toBe('10.1.2.3');
  });
  it('refuses a bad trusted-proxy entry at start-up', () => {
    expect(() => createClientIpResolver(['10.0.0.0/33'])).toThrow(TypeError);
    expect(() => createClientIpResolver(['proxy.example'])).toThrow(TypeError);
  });
});

describe('in-process token bucket (frozen clock)', () => {
  it('allows the burst, refuses with Retry-After, refills at the rate', async () => {
    const limiter = createRateLimiter({ perSecond: 2, burst: 3 });
    const t = 1_000_000;
    const seen = [];
    for (let i = 0; i < 4; i++) seen.push(await limiter.take('src', t));
    expect(seen.map((d) => [d.allowed, d.remaining])).toEqual([
      [true, 2],
      [true, 1],
      [true, 0],
      [false, 0],
    ]);
    expect(seen[3]).toMatchObject({ limit: 3, retryAfterS: 1, resetS: 2 });
    expect((await limiter.take('src', t + 500)).allowed).toBe(true);
    expect((await limiter.take('other', t)).remaining).toBe(2);
  });
});

let ingester: Ingester | undefined;
afterEach(async () => {
  await ingester?.close(100);
  ingester = undefined;
});

const SECRET = 'limits-secret';
function start(overrides: Partial<IngesterOptions>, down: { value: boolean } = { value: false }) {
  const sourceId = newId('src');
  let records = 0;
  ingester = createIngester({
    sources: {
      resolveSource: async () =>
        create(ResolveSourceResponseSchema, {
          source: { id: sourceId, provider: 'generic' },
          secrets: [SECRET],
        }),
    },
    events: {
      recordEvent: async () => {
        if (down.value) throw new RpcError(Code.UNAVAILABLE, 'down');
        records += 1;
        return create(RecordEventResponseSchema, { event: { id: newId('evt') } });
      },
    },
    egress: { dispatch: async () => ({}) },
    logger: createLogger('ingester', { level: 'silent' }),
    ...overrides,
  });
  return { sourceId, records: () => records };
}
const signed = (body: string, extra: Record<string, string> = {}) => ({
  'x-signature': `sha256=${createHmac('sha256', SECRET).update(body).digest('hex')}`,
  ...extra,
});

describe('limits through the HTTP front door', () => {
  it('reports X-RateLimit-* on accepted webhooks and refuses past the bucket with 429 + Retry-After', async () => {
    const { sourceId } = start({ rateLimit: { perSecond: 1, burst: 2 }, now: () => 5_000_000 });
    const url = `${await ingester?.listen('127.0.0.1:0')}/v1/webhooks/${sourceId}`;
    const post = () => fetch(url, { method: 'POST', body: 'x', headers: signed('x') });
    const first = await post();
    expect([
      first.status,
      first.headers.get('x-ratelimit-limit'),
      first.headers.get('x-ratelimit-remaining'),
    ]).toEqual([202, '2', '1']);
    expect((await post()).status).toBe(202);
    const refused = await post();
    expect({ status: refused.status, body: await refused.json() }).toEqual({
      status: 429,
      body: { error: 'rate_limited' },
    });
    expect(refused.headers.get('retry-after')).toBe('1');
    expect(ingester?.refusals.snapshot()).toEqual({ rate_limited: 1 });
    // Forgeries do not spend the bucket.
    const forged = await fetch(url, {
      method: 'POST',
      body: 'x',
      headers: { 'x-signature': `sha256=${'0'.repeat(64)}` },
    });
    expect(forged.status).toBe(401);
  });

  it('answers 503 when the backend is down and releases the claim, so the retry is recorded', async () => {
    const down = { value: true };
    const { sourceId, records } = start({}, down);
    const url = `${await ingester?.listen('127.0.0.1:0')}/v1/webhooks/${sourceId}`;
    const headers = signed('x', { 'x-delivery-id': 'retry-me' });
    const failed = await fetch(url, { method: 'POST', body: 'x', headers });
    expect([failed.status, failed.headers.get('retry-after')]).toEqual([503, '5']);
    down.value = false;
    const retried = await fetch(url, { method: 'POST', body: 'x', headers });
    expect(await retried.json()).toMatchObject({ duplicate: false });
    expect(records()).toBe(1);
  });

  it('answers 408 and closes a request whose body does not arrive within the request timeout', async () => {
    const { sourceId, records } = start({ requestTimeoutMs: 300 });
    const port = Number(new URL(`${await ingester?.listen('127.0.0.1:0')}`).port);
    const answer = await new Promise<string>((resolve) => {
      const socket = connect(port, '127.0.0.1');
      let text = '';
      socket.on('data', (d) => {
        text += d.toString();
      });
      socket.on('close', () => resolve(text));
      socket.write(
        `POST /v1/webhooks/${sourceId} HTTP/1.1\r\nhost: x\r\ncontent-length: 100\r\n\r\nonly-part`,
      );
    });
    expect(answer).toMatch(/^HTTP\/1\.1 408 /);
    expect(records()).toBe(0);
  });
});
