import { type AddressInfo, createConnection, createServer, type Socket } from 'node:net';

/**
 * A loopback TCP proxy the test controls, put between two services to partition them: `open` forwards bytes,
 * `blackhole` destroys every connection it holds and then accepts new ones without ever forwarding a byte (a
 * dropped route: the TLS handshake never completes), `refuse` closes each new connection at once.
 */
export type ProxyMode = 'open' | 'blackhole' | 'refuse';

export interface TcpProxy {
  /** host:port to give the caller instead of the upstream's. */
  address: string;
  set(mode: ProxyMode): void;
  /** Connections accepted so far, and how many of them were black-holed or refused. */
  stats(): { accepted: number; dropped: number };
  close(): Promise<void>;
}

export async function startTcpProxy(upstream: string): Promise<TcpProxy> {
  const colon = upstream.lastIndexOf(':');
  const host = upstream.slice(0, colon);
  const port = Number(upstream.slice(colon + 1));
  let mode: ProxyMode = 'open';
  let accepted = 0;
  let dropped = 0;
  const sockets = new Set<Socket>();
  const held = new Set<Socket>();
  const track = (s: Socket) => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
    s.on('error', () => undefined);
  };
  const server = createServer((client) => {
    accepted += 1;
    track(client);
    if (mode === 'refuse') {
      dropped += 1;
      client.destroy();
      return;
    }
    if (mode === 'blackhole') {
      dropped += 1;
      client.pause();
      held.add(client);
      return;
    }
    const up = createConnection({ host, port });
    track(up);
    client.pipe(up);
    up.pipe(client);
    client.once('close', () => up.destroy());
    up.once('close', () => client.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port: own } = server.address() as AddressInfo;
  return {
    address: `127.0.0.1:${own}`,
    set(next) {
      mode = next;
      // A partition cuts what is open too: every live connection goes, so the caller cannot keep using one.
      // When it heals, the connections it swallowed are reset (their peer never answered them).
      for (const s of next === 'open' ? held : sockets) s.destroy();
      held.clear();
    },
    stats: () => ({ accepted, dropped }),
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
