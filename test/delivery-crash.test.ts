import { createHmac } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase } from './support/database.js';
import { type RunningMesh, startMesh } from './support/mesh.js';

// Issue #6 "Done when": kill -9 egress (and separately the backend) in the middle of a burst of 1,000
// events; after the launcher restarts it, every event is delivered at least once, every delivered
// request verifies with the `standardwebhooks` package, and the duplicate count is reported.
const BURST = 1000;
const SOURCE_SECRET = 'crash-test-source-secret';

let db: Awaited<ReturnType<typeof createTestDatabase>>;
let mesh: RunningMesh;
let signingSecret = '';
let ingestUrl = '';

/** The customer endpoint: verifies every request with the peer's own library and counts per payload. */
const received = new Map<string, number>();
let unverified = 0;
const target = createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    const body = Buffer.concat(chunks).toString('utf8');
    try {
      const payload = new Webhook(signingSecret).verify(body, {
        'webhook-id': String(req.headers['webhook-id']),
        'webhook-timestamp': String(req.headers['webhook-timestamp']),
        'webhook-signature': String(req.headers['webhook-signature']),
      }) as { key: string };
      received.set(payload.key, (received.get(payload.key) ?? 0) + 1);
      res.writeHead(204).end();
    } catch {
      unverified += 1;
      res.writeHead(400).end();
    }
  });
});

const sign = (body: string) => `sha256=${createHmac('sha256', SOURCE_SECRET).update(body).digest('hex')}`;

/**
 * Sends one webhook until the ingester accepts it, as a provider would: a 503 (backend down), a 429 or
 * a refused connection is retried after a short pause. Bounded.
 */
async function send(key: string): Promise<void> {
  const body = JSON.stringify({ key });
  for (let attempt = 0; attempt < 200; attempt++) {
    try {
      const res = await fetch(ingestUrl, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'x-signature': sign(body),
          'x-event-type': 'crash.test',
        },
        body,
      });
      await res.arrayBuffer();
      if (res.status === 202) return;
      if (res.status !== 503 && res.status !== 429) throw new Error(`ingester answered ${res.status}`);
    } catch (err) {
      if ((err as Error).message.startsWith('ingester answered')) throw err;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`webhook ${key} never accepted`);
}

/** Sends BURST webhooks 16 at a time; once a third are accepted, SIGKILLs `service`. */
async function burstWithKill(prefix: string, service: 'egress' | 'backend'): Promise<number> {
  const before = mesh.readEndpoints().pids[service] ?? 0;
  expect(before).toBeGreaterThan(0);
  let next = 0;
  let accepted = 0;
  let killed = false;
  const worker = async () => {
    while (next < BURST) {
      const i = next++;
      await send(`${prefix}-${i}`);
      accepted += 1;
      if (!killed && accepted >= BURST / 3) {
        killed = true;
        process.kill(before, 'SIGKILL');
      }
    }
  };
  await Promise.all(Array.from({ length: 16 }, worker));
  // The launcher restarts it on the same address.
  const deadline = Date.now() + 60_000;
  while ((mesh.readEndpoints().pids[service] ?? before) === before && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 200));
  }
  expect(mesh.readEndpoints().pids[service]).not.toBe(before);
  return before;
}

/** Waits (bounded) until every key of the burst has arrived at least once; returns the duplicates. */
async function allDelivered(prefix: string): Promise<{ missing: number; duplicates: number }> {
  const keys = Array.from({ length: BURST }, (_, i) => `${prefix}-${i}`);
  const deadline = Date.now() + 150_000;
  let missing = keys.filter((k) => !received.has(k)).length;
  while (missing > 0 && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 500));
    missing = keys.filter((k) => !received.has(k)).length;
  }
  const duplicates = keys.reduce((sum, k) => sum + Math.max(0, (received.get(k) ?? 0) - 1), 0);
  return { missing, duplicates };
}

beforeAll(async () => {
  db = await createTestDatabase('zm_crash');
  await new Promise<void>((resolve) => target.listen(0, '127.0.0.1', resolve));
  mesh = await startMesh({ DATABASE_URL: db.url, LOG_LEVEL: 'warn' });
  await mesh.cli('tenant', 'create', 'crash');
  const s = await mesh.cli<{ source: { id: string } }>(
    'source',
    'create',
    '--tenant',
    'crash',
    '--provider',
    'generic',
    '--secret',
    SOURCE_SECRET,
    // Signs the body alone (the explicit opt-out of a signed timestamp): simpler senders below.
    '--no-timestamp',
  );
  ingestUrl = `${mesh.endpoints.ingester}/v1/webhooks/${s.source.id}`;
  const e = await mesh.cli<{ signingSecret: string }>(
    'endpoint',
    'create',
    '--tenant',
    'crash',
    '--url',
    `http://127.0.0.1:${(target.address() as AddressInfo).port}/hook`,
  );
  signingSecret = e.signingSecret;
}, 120_000);

afterAll(async () => {
  const code = await mesh?.stop();
  target.closeAllConnections();
  await new Promise<void>((resolve) => target.close(() => resolve()));
  await db?.drop();
  expect(code).toBe(0);
}, 60_000);

describe('crash during a burst of 1,000 events', () => {
  it('kill -9 egress mid-burst: every event still delivered at least once, all signatures verify', async () => {
    await burstWithKill('egress', 'egress');
    const { missing, duplicates } = await allDelivered('egress');
    console.log(
      `[crash test] egress SIGKILLed mid-burst: ${BURST} events, ${missing} missing, ${duplicates} duplicate deliveries`,
    );
    expect(missing).toBe(0);
    expect(unverified).toBe(0);
  }, 240_000);

  it('kill -9 backend mid-burst: every accepted event delivered at least once, all signatures verify', async () => {
    await burstWithKill('backend', 'backend');
    const { missing, duplicates } = await allDelivered('backend');
    console.log(
      `[crash test] backend SIGKILLed mid-burst: ${BURST} events, ${missing} missing, ${duplicates} duplicate deliveries`,
    );
    expect(missing).toBe(0);
    expect(unverified).toBe(0);
  }, 240_000);
});
