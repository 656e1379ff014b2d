import { createHmac } from 'node:crypto';
import { connect } from 'node:net';
import { create } from '@bufbuild/protobuf';
import { newId } from '@zenmesh/crypto';
import { RecordEventResponseSchema, ResolveSourceResponseSchema } from '@zenmesh/proto';
import { Code, RpcError } from '@zenmesh/rpc';
import { createLogger } from '@zenmesh/telemetry';
import { afterEach, describe, expect, it } from 'vitest';
import { createIngester } from './ingester-app.js';
import type { Ingester, IngesterOptions } from './ingester-options.js';

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
