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
  const resolves = new Map<string, number>();
  ingester = createIngester({
    sources: {
      resolveSource: async ({ sourceId: asked }) => {
        resolves.set(asked, (resolves.get(asked) ?? 0) + 1);
        if (asked !== sourceId) throw new RpcError(Code.NOT_FOUND, 'source_not_found');
        return create(ResolveSourceResponseSchema, {
          // Signs the body alone (the explicit opt-out): these tests are about limits, not timestamps.
          source: { id: sourceId, provider: 'generic', generic: { timestampHeader: '' } },
          secrets: [SECRET],
        });
      },
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
  return { sourceId, records: () => records, resolves };
}

/** Sends only the head of a request that declares a body, and returns the first answer (or '' on close). */
function headOnly(port: number, path: string, headers = ''): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    let text = '';
    socket.on('data', (d) => {
      text += d.toString();
      if (text.includes('\r\n\r\n') && text.includes('}')) socket.destroy();
    });
    socket.on('close', () => resolve(text));
    socket.write(`POST ${path} HTTP/1.1\r\nhost: x\r\ncontent-length: 1000\r\n${headers}\r\n`);
  });
}
const signed = (body: string, extra: Record<string, string> = {}) => ({
  'x-signature': `sha256=${createHmac('sha256', SECRET).update(body).digest('hex')}`,
  ...extra,
});

describe('limits through the HTTP front door', () => {
  it('reports X-RateLimit-* on accepted webhooks and refuses past the bucket with 429 + Retry-After', async () => {
    const { sourceId } = start({ rateLimit: { perSecond: 1, burst: 2 }, now: () => 5_000_000 });
    const url = `${await ingester?.listen('127.0.0.1:0')}/v1/webhooks/${sourceId}`;
    const post = (body: string) => fetch(url, { method: 'POST', body, headers: signed(body) });
    const first = await post('a');
    expect([
      first.status,
      first.headers.get('x-ratelimit-limit'),
      first.headers.get('x-ratelimit-remaining'),
    ]).toEqual([202, '2', '1']);
    expect((await post('b')).status).toBe(202);
    const refused = await post('c');
    expect({ status: refused.status, body: await refused.json() }).toEqual({
      status: 429,
      body: { error: 'rate_limited', retry_after: 1 },
    });
    expect(
      ['retry-after', 'x-ratelimit-limit', 'x-ratelimit-remaining', 'x-ratelimit-reset'].map((h) =>
        refused.headers.get(h),
      ),
    ).toEqual(['1', '2', '0', '2']);
    // The budget is taken before the HMAC is computed: a forgery past it is refused for its rate, not its
    // signature (it cost no verification), and nothing was recorded for it.
    const forged = await fetch(url, {
      method: 'POST',
      body: 'x',
      headers: { 'x-signature': `sha256=${'0'.repeat(64)}` },
    });
    expect(forged.status).toBe(429);
    expect(ingester?.refusals.snapshot()).toEqual({ rate_limited: 2 });
  });

  it('refuses a source over its budget before reading the body', async () => {
    const { sourceId } = start({ rateLimit: { perSecond: 1, burst: 1 }, now: () => 5_000_000 });
    const port = Number(new URL(`${await ingester?.listen('127.0.0.1:0')}`).port);
    const url = `http://127.0.0.1:${port}/v1/webhooks/${sourceId}`;
    expect((await fetch(url, { method: 'POST', body: 'a', headers: signed('a') })).status).toBe(202);
    // Only the head is sent: an answer at all proves the 1000 declared bytes were never waited for.
    const answer = await headOnly(port, `/v1/webhooks/${sourceId}`);
    expect(answer).toMatch(/^HTTP\/1\.1 429 /);
    expect(answer).toMatch(/\r\nretry-after: 1\r\n/i);
    expect(answer).toMatch(/\r\nconnection: close\r\n/i);
  });

  it('limits a client IP before the body or the backend, whatever source ids it rotates through', async () => {
    const { sourceId, resolves } = start({
      ipRateLimit: { perSecond: 1, burst: 3 },
      rateLimit: { perSecond: 100, burst: 100 },
      now: () => 5_000_000,
    });
    const port = Number(new URL(`${await ingester?.listen('127.0.0.1:0')}`).port);
    const base = `http://127.0.0.1:${port}/v1/webhooks`;
    expect(
      (await fetch(`${base}/${sourceId}`, { method: 'POST', body: 'a', headers: signed('a') })).status,
    ).toBe(202);
    for (let i = 0; i < 2; i++) {
      const unknown = await fetch(`${base}/${newId('src')}`, { method: 'POST', body: 'a' });
      // Counted against the address's budget, and the answer says so (what `zenmesh verify` checks live).
      expect([
        unknown.status,
        ...['x-ratelimit-limit', 'x-ratelimit-remaining'].map((h) => unknown.headers.get(h)),
      ]).toEqual([404, '3', String(1 - i)]);
    }
    const before = [...resolves.values()].reduce((a, b) => a + b, 0);
    // A fresh id does not escape: the budget is the address's, and it is spent.
    const refused = await fetch(`${base}/${newId('src')}`, { method: 'POST', body: 'a' });
    expect([refused.status, await refused.json()]).toEqual([429, { error: 'rate_limited', retry_after: 1 }]);
    expect(
      ['retry-after', 'x-ratelimit-limit', 'x-ratelimit-remaining'].map((h) => refused.headers.get(h)),
    ).toEqual(['1', '3', '0']);
    // Not even the genuine source gets through from this address, and no backend call was made for either.
    expect(await headOnly(port, `/v1/webhooks/${sourceId}`)).toMatch(/^HTTP\/1\.1 429 /);
    expect([...resolves.values()].reduce((a, b) => a + b, 0)).toBe(before);
    expect(ingester?.refusals.snapshot()).toEqual({ unknown_source: 2, rate_limited_ip: 2 });
  });

  it('a flood of unknown source ids costs one ResolveSource per id per negative TTL', async () => {
    // The cache's clock is the test's, so a slow machine cannot let the negative entries expire early.
    const clock = { ms: 1_000_000 };
    const { resolves } = start({ unknownSourceTtlMs: 400, ipRateLimit: false, now: () => clock.ms });
    const base = `${await ingester?.listen('127.0.0.1:0')}/v1/webhooks`;
    const ids = Array.from({ length: 20 }, () => newId('src'));
    const flood = () =>
      Promise.all(
        ids.flatMap((id) =>
          Array.from({ length: 5 }, () =>
            fetch(`${base}/${id}`, { method: 'POST', body: 'x' }).then((r) => r.status),
          ),
        ),
      );
    expect(new Set(await flood())).toEqual(new Set([404]));
    expect(ids.map((id) => resolves.get(id))).toEqual(ids.map(() => 1));
    expect(new Set(await flood())).toEqual(new Set([404]));
    expect(ids.map((id) => resolves.get(id))).toEqual(ids.map(() => 1));
    // Once the negative entry expires the backend is asked again (a source created meanwhile is found).
    clock.ms += 399;
    expect(new Set(await flood())).toEqual(new Set([404]));
    expect(ids.map((id) => resolves.get(id))).toEqual(ids.map(() => 1));
    clock.ms += 2;
    expect(new Set(await flood())).toEqual(new Set([404]));
    expect(ids.map((id) => resolves.get(id))).toEqual(ids.map(() => 2));
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
