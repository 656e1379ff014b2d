import { createHmac } from 'node:crypto';
import pg from 'pg';
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase } from './support/database.js';
import { type RunningMesh, startMesh } from './support/mesh.js';
import { startTarget } from './support/target.js';

// Issue #6 through the whole mesh and the CLI: replay redelivers (checked by the receiver's own
// `standardwebhooks`), and one audit row tampered with directly in Postgres makes `zenmesh audit verify`
// fail naming that row.
let db: Awaited<ReturnType<typeof createTestDatabase>>;
let target: Awaited<ReturnType<typeof startTarget>>;
let mesh: RunningMesh;
let signingSecret = '';
let ingestUrl = '';
let endpointId = '';
const SECRET = 'replay-source-secret';

beforeAll(async () => {
  db = await createTestDatabase('zm_e2e_api');
  target = await startTarget();
  mesh = await startMesh({ DATABASE_URL: db.url });
  await mesh.cli('tenant', 'create', 'acme');
  await mesh.cli('tenant', 'create', 'bystander');
  const s = await mesh.cli<{ ingestUrl: string }>(
    'source',
    'create',
    '--tenant',
    'acme',
    '--secret',
    SECRET,
    // Signs the body alone (the explicit opt-out of a signed timestamp), as the sender below does.
    '--no-timestamp',
  );
  ingestUrl = s.ingestUrl;
  const e = await mesh.cli<{ endpoint: { id: string }; signingSecret: string }>(
    'endpoint',
    'create',
    '--tenant',
    'acme',
    '--url',
    target.url,
  );
  endpointId = e.endpoint.id;
  signingSecret = e.signingSecret;
}, 90_000);

afterAll(async () => {
  const code = await mesh?.stop();
  await target?.close();
  await db?.drop();
  expect(code).toBe(0);
}, 60_000);

const verify = (r: { body: Buffer; headers: Record<string, unknown> }) =>
  new Webhook(signingSecret).verify(r.body.toString('utf8'), {
    'webhook-id': String(r.headers['webhook-id']),
    'webhook-timestamp': String(r.headers['webhook-timestamp']),
    'webhook-signature': String(r.headers['webhook-signature']),
  });

async function deliveryOf(eventId: string, state: RegExp) {
  const deadline = Date.now() + 15_000;
  for (;;) {
    const d = await mesh.cli<{
      deliveries: { id: string; eventId: string; state: string; replays: number }[];
    }>('deliveries', 'list', '--tenant', 'acme', '--event', eventId);
    const found = d.deliveries.find((x) => x.eventId === eventId);
    if (found !== undefined && state.test(found.state)) return found;
    if (Date.now() > deadline) throw new Error(`delivery of ${eventId}: ${JSON.stringify(found)}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

describe('replay through the CLI', () => {
  let eventId = '';

  it('redelivers one delivery, signed so that standardwebhooks verifies it, with the same webhook-id', async () => {
    const body = JSON.stringify({ order: 7 });
    const res = await fetch(ingestUrl, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'x-signature': `sha256=${createHmac('sha256', SECRET).update(body).digest('hex')}`,
        'x-event-type': 'order.created',
      },
      body,
    });
    expect(res.status).toBe(202);
    eventId = ((await res.json()) as { id: string }).id;
    await target.waitFor(1);
    const delivery = await deliveryOf(eventId, /succeeded/);

    const replayed = await mesh.cli<{ delivery: { id: string; state: string } }>(
      'replay',
      'delivery',
      delivery.id,
      '--tenant',
      'acme',
    );
    expect(replayed.delivery).toMatchObject({ id: delivery.id, state: 'pending' });
    const requests = await target.waitFor(2);
    const again = requests.filter((r) => r.headers['webhook-id'] === eventId);
    expect(again).toHaveLength(2);
    for (const r of again) expect(verify(r)).toEqual({ order: 7 });
    expect((await deliveryOf(eventId, /succeeded/)).replays).toBe(1);

    const attempts = await mesh.cli<{ attempts: { attempt: number; statusCode: number }[] }>(
      'deliveries',
      'attempts',
      delivery.id,
      '--tenant',
      'acme',
    );
    expect(attempts.attempts.map((a) => [a.attempt, a.statusCode])).toEqual([
      [1, 200],
      [2, 200],
    ]);
  });

  it('replays an event to every endpoint, and refuses an endpoint replay without --since', async () => {
    const res = await mesh.cli<{ deliveryIds: string[] }>('replay', 'event', eventId, '--tenant', 'acme');
    expect(res.deliveryIds).toHaveLength(1);
    await target.waitFor(3);
    expect(verify(target.requests[2] as never)).toEqual({ order: 7 });
    const none = await mesh.cli<{ deliveryIds: string[] }>(
      'replay',
      'endpoint',
      endpointId,
      '--tenant',
      'acme',
      '--since',
      '1h',
    );
    expect(none.deliveryIds).toEqual([]); // nothing is dead
    const bad = await mesh.cliRaw('replay', 'endpoint', endpointId, '--tenant', 'acme');
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toContain("required option '--since <time>' not specified");
  });
});

describe('zenmesh audit verify', () => {
  it('is intact, then fails naming the row changed directly in Postgres', async () => {
    const list = await mesh.cli<{
      entries: { id: string; seq: number; action: string; actor: string; ip: string }[];
    }>('audit', 'list', '--tenant', 'acme');
    expect(list.entries.map((e) => e.action)).toEqual([
      'tenant.create',
      'source.create',
      'endpoint.create',
      'delivery.replay',
      'event.replay',
      'endpoint.replay',
    ]);
    // The actor is the verified API key behind the CLI; the IP the bff saw.
    expect(list.entries[1]).toMatchObject({ actor: expect.stringMatching(/^api_key:key_/), ip: '127.0.0.1' });

    const intact = await mesh.cliRaw('audit', 'verify');
    expect(intact.code).toBe(0);
    expect(intact.stdout).toContain('audit chain intact');

    // As the postgres superuser: rewrite who created the endpoint.
    const victim = list.entries[2];
    const admin = new pg.Client({ connectionString: db.url });
    await admin.connect();
    try {
      await admin.query(`update core.audit set actor = 'api_key:key_someoneelse' where id = $1`, [
        victim?.id,
      ]);
    } finally {
      await admin.end();
    }

    const broken = await mesh.cliRaw('audit', 'verify');
    expect(broken.code).toBe(1);
    expect(broken.stdout).toMatch(
      new RegExp(
        `tenant acme \\(ten_[a-z2-7]{26}\\): BROKEN at seq 3 \\(${victim?.id}\\): hash_mismatch, the row was changed after it was written; 2 rows before it verified`,
      ),
    );
    expect(broken.stdout).toMatch(/tenant bystander \(ten_[a-z2-7]{26}\): OK, 1 row verified/);
    expect(broken.stdout).toContain('audit chain BROKEN');
    const json = await mesh.cliRaw('audit', 'verify', '--tenant', 'acme', '--json');
    expect(json.code).toBe(1);
    expect(JSON.parse(json.stdout)).toMatchObject({
      ok: false,
      chains: [
        { tenantName: 'acme', ok: false, broken: { seq: 3, id: victim?.id, reason: 'hash_mismatch' } },
      ],
    });
  });
});
