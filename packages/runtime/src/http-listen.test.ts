import { createServer } from 'node:http';
import { connect } from 'node:net';
import { describe, expect, it } from 'vitest';
import { closeHttp, listenHttp } from './index.js';

describe('listenHttp / closeHttp', () => {
  it('binds host:port 0 and answers with the URL actually bound', async () => {
    const server = createServer((_req, res) => res.end('ok'));
    const url = await listenHttp(server, '127.0.0.1:0');
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(await (await fetch(url)).text()).toBe('ok');
    await closeHttp(server);
    expect(server.listening).toBe(false);
  });

  it('refuses a malformed address and rejects a port in use', async () => {
    const a = createServer();
    await expect(listenHttp(a, 'nope')).rejects.toThrow(/expected host:port, got "nope"/);
    const url = await listenHttp(a, '127.0.0.1:0');
    const b = createServer();
    await expect(listenHttp(b, new URL(url).host)).rejects.toMatchObject({ code: 'EADDRINUSE' });
    await closeHttp(a);
  });

  it('closes connections still open once the grace period is over', async () => {
    // A request that never completes: the server must still stop, after the grace period.
    const server = createServer(() => {});
    const url = new URL(await listenHttp(server, '127.0.0.1:0'));
    const socket = connect(Number(url.port), url.hostname);
    await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
    socket.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    await new Promise((r) => setTimeout(r, 50));
    await closeHttp(server, 100);
    expect(server.listening).toBe(false);
    socket.destroy();
  });
});
