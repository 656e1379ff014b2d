import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase } from './support/database.js';
import { signGeneric } from './support/generic-signature.js';
import { type RunningMesh, startMesh, UNLIMITED_EDGE } from './support/mesh.js';

// Issue 16's delivery controls through the running mesh, with two egress replicas sharing Redis: an
// endpoint throttle (rate + burst) holds across both replicas, and FIFO ordering per key holds while a
// failing head blocks only its own key. Set up and refused through the CLI (`zenmesh endpoint …`).
let db: Awaited<ReturnType<typeof createTestDatabase>>;
let mesh: RunningMesh;
const servers: Server[] = [];
const SECRET = 'controls-source-secret';
let ingestUrl = '';

interface Arrival {
  at: number;
  body: { k: string; n: number };
  verified: boolean;
}

/** A target that records verified arrivals and answers what `answer` says (default 204). */
async function target(answer: (a: Arrival, nth: number) => number = () => 204) {
  const arrivals: Arrival[] = [];
  let secret = '';
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks).toString();
      let verified = false;
      try {
        new Webhook(secret).verify(raw, req.headers as Record<string, string>);
        verified = true;
      } catch {}
      const a = { at: performance.now(), body: JSON.parse(raw) as Arrival['body'], verified };
      arrivals.push(a);
      res
        .writeHead(answer(a, arrivals.filter((x) => x.body.k === a.body.k && x.body.n === a.body.n).length))
        .end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  servers.push(server);
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`,
    arrivals,
    setSecret: (s: string) => {
      secret = s;
    },
  };
}

const send = async (payload: { k: string; n: number }, headers: Record<string, string> = {}) => {
  const body = JSON.stringify(payload);
  const res = await fetch(ingestUrl, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      ...signGeneric(SECRET, body),
      'x-event-type': 'job.done',
      ...headers,
    },
    body,
  });
  expect(res.status).toBe(202);
};

const waitUntil = async (what: () => boolean, timeoutMs: number) => {
  const deadline = Date.now() + timeoutMs;
  while (!what() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
};

const createEndpoint = async (url: string, ...flags: string[]) => {
  const e = await mesh.cli<{ endpoint: { id: string }; signingSecret: string }>(
    'endpoint',
    'create',
    '--tenant',
    'ctl',
    '--url',
    url,
    ...flags,
  );
  return e;
};
const disable = (id: string) => mesh.cli('endpoint', 'update', id, '--tenant', 'ctl', '--disable');

beforeAll(async () => {
  db = await createTestDatabase();
  mesh = await startMesh({ DATABASE_URL: db.url, ...UNLIMITED_EDGE }, 120_000, ['--replicas', 'egress=2']);
  await mesh.cli('tenant', 'create', 'ctl');
  const s = await mesh.cli<{ ingestUrl: string }>(
    'source',
    'create',
    '--tenant',
    'ctl',
    '--provider',
    'generic',
    '--secret',
    SECRET,
  );
  ingestUrl = s.ingestUrl;
}, 180_000);

afterAll(async () => {
  const code = await mesh?.stop();
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  await db?.drop();
  expect(code).toBe(0);
}, 90_000);

describe('refusals through the CLI', () => {
  it.each([
    [['--rate', '0.001'], /rateLimit\.perSecond: /],
    [['--rate', '20000'], /rateLimit\.perSecond: /],
    [['--rate', '5', '--burst', '10001'], /rateLimit\.burst: /],
    [['--rate', 'fast'], /expected requests per second/],
    [['--burst', '5'], /--burst needs --rate/],
    [
      ['--ordering-key', 'customer.id'],
      /invalid_ordering_key: starts with "\$\." \(a JSON path\) or "header:"/,
    ],
    [['--ordering-key', '$.a..b'], /invalid_ordering_key: expected a member name at 5/],
  ])('endpoint create %j is refused with its reason, and nothing is created', async (flags, reason) => {
    const before = await mesh.cli<{ endpoints: unknown[] }>('endpoint', 'list', '--tenant', 'ctl');
    const r = await mesh.cliRaw(
      'endpoint',
      'create',
      '--tenant',
      'ctl',
      '--url',
      'http://127.0.0.1:9/x',
      ...flags,
    );
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(reason);
    const after = await mesh.cli<{ endpoints: unknown[] }>('endpoint', 'list', '--tenant', 'ctl');
    expect(after.endpoints).toHaveLength(before.endpoints.length);
  });
});

describe('an endpoint throttle across two egress replicas', () => {
  it('delivers at most burst + rate × t in every window, everything in the end, no attempt spent', async () => {
    const t = await target();
    const e = await createEndpoint(t.url, '--rate', '5', '--burst', '3');
    t.setSecret(e.signingSecret);
    const listed = await mesh.cli<{ endpoints: { id: string; rateLimit: unknown }[] }>(
      'endpoint',
      'list',
      '--tenant',
      'ctl',
    );
    expect(listed.endpoints.find((x) => x.id === e.endpoint.id)?.rateLimit).toEqual({
      perSecond: 5,
      burst: 3,
    });
    const N = 30;
    await Promise.all(Array.from({ length: N }, (_, n) => send({ k: 'rate', n })));
    await waitUntil(() => t.arrivals.length >= N, 60_000);
    await disable(e.endpoint.id);
    expect(t.arrivals.length).toBe(N);
    expect(t.arrivals.every((a) => a.verified)).toBe(true);
    const at = t.arrivals.map((a) => a.at);
    for (let i = 0; i < at.length; i++) {
      for (let j = i; j < at.length; j++) {
        // +1: both ends of the window count, and Redis's clock ticks in milliseconds.
        expect(j - i + 1).toBeLessThanOrEqual(3 + 5 * (((at[j] as number) - (at[i] as number)) / 1000) + 1);
      }
    }
    // Each delivery succeeded on its first attempt: throttling is not a failed attempt.
    const deliveries = await mesh.cli<{
      deliveries: { endpointId: string; state: string; attempts: number }[];
    }>('deliveries', 'list', '--tenant', 'ctl', '--endpoint', e.endpoint.id);
    expect(deliveries.deliveries.map((d) => [d.state, d.attempts])).toEqual(
      Array.from({ length: N }, () => ['succeeded', 1]),
    );
  }, 120_000);
});

describe('FIFO per ordering key across two egress replicas', () => {
  it('keeps each key in order; a failing head blocks only its key', async () => {
    // The first attempt of a#0 fails (500): its key waits for the retry (about 5 s); b and c flow meanwhile.
    const t = await target((a, nth) => (a.body.k === 'a' && a.body.n === 0 && nth === 1 ? 500 : 204));
    const e = await createEndpoint(t.url, '--ordering-key', 'header:x-customer');
    t.setSecret(e.signingSecret);
    const sent: Record<string, number[]> = { a: [], b: [], c: [] };
    // Sent one after another (each accepted before the next): the order the mesh records is this order.
    for (let n = 0; n < 24; n++) {
      const k = ['a', 'b', 'c'][n % 3] as string;
      sent[k]?.push(n);
      await send({ k, n }, { 'x-customer': k });
    }
    await waitUntil(
      () =>
        new Set(t.arrivals.filter((a) => a.body.k !== 'a' || a.body.n !== 0).map((a) => a.body.n)).size >= 23,
      60_000,
    );
    await disable(e.endpoint.id);
    const firstSeen = (k: string) => {
      const order: number[] = [];
      for (const a of t.arrivals) if (a.body.k === k && !order.includes(a.body.n)) order.push(a.body.n);
      return order;
    };
    expect(firstSeen('a')).toEqual(sent.a);
    expect(firstSeen('b')).toEqual(sent.b);
    expect(firstSeen('c')).toEqual(sent.c);
    // a#0 arrived twice (its failure, then the retry) and nothing of a arrived between the two.
    const a0 = t.arrivals.flatMap((a, i) => (a.body.k === 'a' && a.body.n === 0 ? [i] : []));
    expect(a0).toHaveLength(2);
    const between = t.arrivals.slice((a0[0] as number) + 1, a0[1]);
    expect(between.some((a) => a.body.k === 'a')).toBe(false);
    // ... while every b and c went out during that wait: a failing head blocks only its key.
    expect(between.filter((a) => a.body.k !== 'a')).toHaveLength(16);
    expect(t.arrivals.every((a) => a.verified)).toBe(true);
  }, 120_000);
});
