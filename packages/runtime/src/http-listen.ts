import { once } from 'node:events';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * Listens on `host:port` (port 0 = any free port; IPv6 hosts in brackets) and resolves with the base URL
 * actually bound, e.g. `http://127.0.0.1:8080`. A bind error (address in use) rejects.
 */
export async function listenHttp(server: Server, hostPort: string): Promise<string> {
  const m = /^(\[[0-9a-fA-F:.]+\]|[^:]+):(\d{1,5})$/.exec(hostPort);
  if (m === null) throw new TypeError(`listen: expected host:port, got ${JSON.stringify(hostPort)}`);
  const host = (m[1] ?? '').replace(/^\[|\]$/g, '');
  server.listen(Number(m[2]), host);
  await once(server, 'listening');
  const address = server.address() as AddressInfo;
  const shown = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return `http://${shown}:${address.port}`;
}

/**
 * Stops accepting connections, closes idle keep-alive sockets at once, lets requests in flight finish for
 * up to `graceMs`, then closes whatever is left, so a stop never waits on a slow client.
 */
export async function closeHttp(server: Server, graceMs = 10_000): Promise<void> {
  if (!server.listening) return;
  const closed = new Promise<void>((resolve, reject) =>
    server.close((err) => (err ? reject(err) : resolve())),
  );
  server.closeIdleConnections();
  const timer = setTimeout(() => server.closeAllConnections(), graceMs);
  timer.unref();
  try {
    await closed;
  } finally {
    clearTimeout(timer);
  }
}
