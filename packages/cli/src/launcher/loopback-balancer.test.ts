import { once } from 'node:events';
import { type AddressInfo, connect, createServer, type Server } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { CliError } from '../errors.js';
import { startLoopbackBalancer } from './loopback-balancer.js';
import { parseReplicas, replicaName, requireSharedStores } from './replicas.js';

/** A TCP server answering every line with its own name. */
const named = async (name: string): Promise<{ server: Server; address: string }> => {
  const server = createServer((s) => s.on('data', () => s.end(name)));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { server, address: `127.0.0.1:${(server.address() as AddressInfo).port}` };
};

const ask = async (address: string): Promise<string> => {
  const [host, port] = [address.slice(0, address.lastIndexOf(':')), Number(address.split(':').pop())];
  const socket = connect({ host, port });
  socket.write('who\n');
  let text = '';
  socket.on('data', (c: Buffer) => {
    text += c.toString();
  });
  await Promise.race([once(socket, 'close'), once(socket, 'end')]);
  return text;
};

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

describe('startLoopbackBalancer', () => {
  it('hands each new connection to the next replica, bytes untouched', async () => {
    const a = await named('a');
    const b = await named('b');
    cleanups.push(
      () => void a.server.close(),
      () => void b.server.close(),
    );
    const lb = await startLoopbackBalancer('127.0.0.1:0', [a.address, b.address]);
    cleanups.push(() => lb.close());
    const answers = [];
    for (let i = 0; i < 4; i++) answers.push(await ask(lb.address));
    expect(answers.sort()).toEqual(['a', 'a', 'b', 'b']);
    expect(lb.counts()).toEqual({ [a.address]: 2, [b.address]: 2 });
  });

  it('skips a replica that refuses, and closes the caller when none answers', async () => {
    const a = await named('a');
    const dead = await named('dead');
    await new Promise<void>((r) => dead.server.close(() => r()));
    cleanups.push(() => void a.server.close());
    const lb = await startLoopbackBalancer('127.0.0.1:0', [dead.address, a.address]);
    cleanups.push(() => lb.close());
    expect([await ask(lb.address), await ask(lb.address)]).toEqual(['a', 'a']);
    lb.setTargets([dead.address]);
    expect(await ask(lb.address)).toBe('');
  });
});

describe('--replicas', () => {
  it('parses service=count for the replicable services and refuses the rest by name', () => {
    expect(parseReplicas('ingester=2, backend=3,egress=1')).toMatchObject({
      ingester: 2,
      backend: 3,
      egress: 1,
      ca: 1,
    });
    expect(parseReplicas(undefined)).toMatchObject({ ingester: 1, bff: 1 });
    expect(() => parseReplicas('token=2')).toThrow(/token cannot run as replicas here/);
    expect(() => parseReplicas('ingester')).toThrow(/expected service=count, got "ingester"/);
    expect(() => parseReplicas('ingester=0')).toThrow(/expected 1 to 8/);
    expect(replicaName('egress', 1, 2)).toBe('egress-2');
    expect(replicaName('egress', 0, 1)).toBe('egress');
  });

  it('needs Redis for any replica and Postgres for backend replicas', () => {
    const two = parseReplicas('backend=2');
    expect(() => requireSharedStores(two, {})).toThrow(CliError);
    expect(() => requireSharedStores(two, { REDIS_URL: 'redis://x' })).toThrow(/DATABASE_URL is unset/);
    expect(() =>
      requireSharedStores(two, { REDIS_URL: 'redis://x', DATABASE_URL: 'postgres://x' }),
    ).not.toThrow();
    expect(() => requireSharedStores(parseReplicas(''), {})).not.toThrow();
  });
});
