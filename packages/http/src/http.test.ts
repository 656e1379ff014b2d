import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { createClientIpResolver, sendJson } from './index.js';

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
  it('believes no header at all without trusted proxies', () => {
    expect(createClientIpResolver([])(fakeReq('10.1.2.3', '198.51.100.4'))).toBe('10.1.2.3');
  });
  it('refuses a bad trusted-proxy entry at start-up', () => {
    expect(() => createClientIpResolver(['10.0.0.0/33'])).toThrow(TypeError);
    expect(() => createClientIpResolver(['proxy.example'])).toThrow(TypeError);
  });
});

describe('sendJson', () => {
  it('sends the body with its exact length, never cached, never sniffed; extras cannot change the type', async () => {
    const server = createServer((req, res) =>
      req.url === '/public'
        ? sendJson(res, 200, { keys: [] }, { 'cache-control': 'public, max-age=60' })
        : sendJson(
            res,
            429,
            { error: 'rate_limited', note: 'é' },
            { 'retry-after': '3', 'content-type': 'text/html' },
          ),
    );
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const res = await fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`);
      const text = await res.text();
      expect(res.status).toBe(429);
      expect(JSON.parse(text)).toEqual({ error: 'rate_limited', note: 'é' });
      expect(res.headers.get('content-length')).toBe(String(Buffer.byteLength(text)));
      expect(res.headers.get('content-type')).toBe('application/json; charset=utf-8');
      expect(res.headers.get('cache-control')).toBe('no-store');
      expect(res.headers.get('x-content-type-options')).toBe('nosniff');
      expect(res.headers.get('retry-after')).toBe('3');
      const pub = await fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}/public`);
      expect(pub.headers.get('cache-control')).toBe('public, max-age=60');
      expect(pub.headers.get('x-content-type-options')).toBe('nosniff');
      await pub.text();
    } finally {
      server.close();
    }
  });
});
