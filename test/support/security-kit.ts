import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import {
  createMemoryNonceStore,
  createMessageKeyring,
  createMessageSigner,
  createRedisNonceStore,
  type KeyringState,
  type NonceStore,
} from '@zenmesh/crypto';
import {
  type CertificateAuthority,
  createCertificateAuthority,
  issueSvidWithKey,
  spiffeIdFor,
} from '@zenmesh/pki';
import { EgressService } from '@zenmesh/proto';
import {
  type CallContext,
  Code,
  createMeshChannel,
  createMeshServer,
  type MeshServer,
  type MeshServerOptions,
  type MessageIntegrity,
  type PolicyTable,
  RpcError,
  type TlsIdentity,
} from '@zenmesh/rpc';
import { Redis } from 'ioredis';

export const TD = 'zenmesh.local';
export const NS = 'zenmesh';

type Logger = MeshServerOptions['logger'];
/** A logger that drops everything (tests assert on refusals and counters, not log text). */
export const silentLogger = (): Logger => {
  const l: Record<string, unknown> = {};
  for (const m of ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'flush']) l[m] = () => {};
  l.child = () => l;
  return l as unknown as Logger;
};

export interface Pki {
  ca: CertificateAuthority;
  identity(service: string): Promise<TlsIdentity & { id: string }>;
}

export async function createPki(): Promise<Pki> {
  const ca = await createCertificateAuthority({ trustDomain: TD });
  return {
    ca,
    async identity(service) {
      const id = spiffeIdFor(service, { trustDomain: TD, namespace: NS });
      const svid = await issueSvidWithKey({ ca, spiffeId: id });
      return { cert: svid.certPem, key: svid.keyPem, ca: ca.certPem, id };
    },
  };
}

/** The message integrity of one process, built from the same parts services use. */
export function integrityFor(options: {
  masterKey: Buffer;
  nonces: NonceStore;
  state?: KeyringState;
  clock?: () => number;
}): MessageIntegrity {
  const keyring = createMessageKeyring({
    masterKey: options.masterKey,
    cluster: TD,
    ...(options.state ? { state: options.state } : {}),
  });
  return {
    signer: createMessageSigner({ keyring, ...(options.clock ? { clock: options.clock } : {}) }),
    nonces: options.nonces,
  };
}

export const redisNonces = (url: string, prefix: string) =>
  createRedisNonceStore({ url, prefix, onError: () => {} });
export const memoryNonces = () => createMemoryNonceStore();

/**
 * An EgressService instance whose handler counts the calls that reach it, remembers the `authorization` and
 * `x-probe` metadata it could read, and answers event id `evt_dup…` with ALREADY_EXISTS `duplicate_event`
 * (an error a caller acts on: it would drop the event as delivered).
 */
export async function startEgress(options: {
  identity: TlsIdentity;
  integrity: MessageIntegrity | false;
  policy?: PolicyTable;
}): Promise<{
  server: MeshServer;
  address: string;
  handled: () => number;
  lastHeaders: () => Record<string, string | undefined>;
}> {
  let handled = 0;
  let lastHeaders: Record<string, string | undefined> = {};
  const server = createMeshServer({
    service: 'egress',
    identity: options.identity,
    trustDomain: TD,
    namespace: NS,
    logger: silentLogger(),
    integrity: options.integrity,
    ...(options.policy ? { policy: options.policy } : {}),
  });
  server.register(EgressService, {
    async dispatch(req, ctx: CallContext) {
      handled++;
      lastHeaders = { authorization: ctx.header('authorization'), 'x-probe': ctx.header('x-probe') };
      if (req.eventId.startsWith('evt_dup')) throw new RpcError(Code.ALREADY_EXISTS, 'duplicate_event');
      return { accepted: req.eventId.startsWith('evt_') };
    },
  });
  const { address } = await server.listen('127.0.0.1:0');
  return { server, address, handled: () => handled, lastHeaders: () => lastHeaders };
}

export const egressChannel = (address: string, identity: TlsIdentity, integrity: MessageIntegrity | false) =>
  createMeshChannel({
    address,
    identity,
    peer: 'egress',
    trustDomain: TD,
    namespace: NS,
    integrity,
    timeoutMs: 3000,
  });

export const randomPrefix = (what: string) => `zmtest:${what}:${randomBytes(6).toString('hex')}:`;

/** Deletes every key under `prefix` on the shared Redis (SCAN, never FLUSHALL). */
export async function cleanRedisPrefix(url: string, prefix: string): Promise<number> {
  const redis = new Redis(url);
  let deleted = 0;
  try {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 500);
      cursor = next;
      if (keys.length) deleted += await redis.del(...keys);
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
  return deleted;
}

const freePort = () =>
  new Promise<number>((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });

/**
 * A private, throw-away redis-server on a free loopback port (no persistence), which a test may kill and
 * restart on the same port. The shared Redis is never touched.
 */
export async function startPrivateRedis(): Promise<{
  url: string;
  kill(): Promise<void>;
  start(): Promise<void>;
}> {
  const port = await freePort();
  let child: ChildProcess | undefined;
  const start = async () => {
    child = spawn(
      'redis-server',
      ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
      { stdio: 'ignore' },
    );
    const deadline = Date.now() + 10_000;
    for (;;) {
      const probe = new Redis(`redis://127.0.0.1:${port}`, { lazyConnect: true, retryStrategy: () => null });
      probe.on('error', () => {});
      try {
        await probe.connect();
        await probe.ping();
        probe.disconnect();
        return;
      } catch {
        probe.disconnect();
        if (Date.now() > deadline) throw new Error(`private redis-server on ${port} did not start`);
        await new Promise((r) => setTimeout(r, 50));
      }
    }
  };
  const kill = async () => {
    const c = child;
    if (!c || c.exitCode !== null) return;
    const exited = new Promise((r) => c.once('exit', r));
    c.kill('SIGKILL');
    await exited;
  };
  await start();
  return { url: `redis://127.0.0.1:${port}`, kill, start };
}
