import { once } from 'node:events';
import { type AddressInfo, createServer, type Server, type Socket, connect as tcpConnect } from 'node:net';

/** A TCP round-robin balancer in front of the replicas of one service, on loopback (`zenmesh up --replicas`). */
export interface LoopbackBalancer {
  /** host:port it listens on: what peers (and providers, for the ingester) are given. */
  readonly address: string;
  /** Replaces the replica addresses (host:port each); connections already open stay where they are. */
  setTargets(targets: readonly string[]): void;
  /** Connections opened so far per target (for tests and `--json` output). */
  counts(): Record<string, number>;
  close(): Promise<void>;
}

const CONNECT_TIMEOUT_MS = 2000;

const split = (hostPort: string): { host: string; port: number } => {
  const i = hostPort.lastIndexOf(':');
  return { host: hostPort.slice(0, i).replace(/^\[|\]$/g, ''), port: Number(hostPort.slice(i + 1)) };
};

/** Connects to `target`, resolving with the socket once connected, or undefined on error or timeout. */
const dial = (target: string): Promise<Socket | undefined> =>
  new Promise((resolve) => {
    const { host, port } = split(target);
    const upstream = tcpConnect({ host, port });
    const fail = () => {
      upstream.destroy();
      resolve(undefined);
    };
    upstream.setTimeout(CONNECT_TIMEOUT_MS, fail);
    upstream.once('error', fail);
    upstream.once('connect', () => {
      upstream.setTimeout(0);
      upstream.off('error', fail);
      resolve(upstream);
    });
  });

/**
 * Passes bytes through untouched (TLS and mTLS end at the replica, whose SPIFFE ID the caller checks, never
 * the host name), so it adds no trust. Each new connection goes to the next replica in turn; a replica that
 * refuses (crashed, restarting) is skipped and the next tried, so a dead replica costs a caller nothing but the
 * connections it held.
 */
export async function startLoopbackBalancer(
  listen: string,
  initialTargets: readonly string[],
): Promise<LoopbackBalancer> {
  let targets = [...initialTargets];
  let next = 0;
  const opened = new Map<string, number>();
  const sockets = new Set<Socket>();

  const route = async (client: Socket) => {
    sockets.add(client);
    client.once('close', () => sockets.delete(client));
    client.on('error', () => client.destroy());
    client.pause();
    for (let tried = 0; tried < targets.length; tried++) {
      const target = targets[next++ % targets.length] as string;
      const upstream = await dial(target);
      if (client.destroyed) {
        upstream?.destroy();
        return;
      }
      if (!upstream) continue;
      opened.set(target, (opened.get(target) ?? 0) + 1);
      sockets.add(upstream);
      upstream.once('close', () => {
        sockets.delete(upstream);
        client.destroy();
      });
      upstream.on('error', () => upstream.destroy());
      client.once('close', () => upstream.destroy());
      client.pipe(upstream);
      upstream.pipe(client);
      client.resume();
      return;
    }
    client.destroy();
  };

  const server: Server = createServer((client) => void route(client));
  const { host, port } = split(listen);
  server.listen(port, host);
  await once(server, 'listening');
  const bound = server.address() as AddressInfo;
  const shown = bound.family === 'IPv6' ? `[${bound.address}]` : bound.address;
  return {
    address: `${shown}:${bound.port}`,
    setTargets(t) {
      targets = [...t];
    },
    counts: () => Object.fromEntries(opened),
    async close() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const s of sockets) s.destroy();
      await closed;
    },
  };
}

/**
 * The balancers in front of one service's replicas: one for their gRPC addresses (on `listen.grpc`) and one
 * for their HTTP faces (on `listen.http`, the port the service alone would have), for whichever they have.
 */
export async function balanceReplicas(
  replicas: ReadonlyArray<{ ready: { grpc?: string; http?: string } }>,
  listen: { grpc: string; http: string },
): Promise<{ grpc?: LoopbackBalancer; http?: LoopbackBalancer }> {
  const grpcTargets = replicas.flatMap((r) => (r.ready.grpc ? [r.ready.grpc] : []));
  const httpTargets = replicas.flatMap((r) => (r.ready.http ? [new URL(r.ready.http).host] : []));
  const grpc = grpcTargets.length > 0 ? await startLoopbackBalancer(listen.grpc, grpcTargets) : undefined;
  try {
    const http = httpTargets.length > 0 ? await startLoopbackBalancer(listen.http, httpTargets) : undefined;
    return { ...(grpc ? { grpc } : {}), ...(http ? { http } : {}) };
  } catch (err) {
    await grpc?.close();
    throw err;
  }
}
