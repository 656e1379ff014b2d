import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { sign as signGithub } from '@octokit/webhooks-methods';
import { Webhook } from 'standardwebhooks';
import Stripe from 'stripe';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase } from './support/database.js';
import { type RunningMesh, startMesh } from './support/mesh.js';
import { startTarget } from './support/target.js';

// Issue #5 through the whole mesh: GitHub and Stripe sources created with the CLI, webhooks signed by the
// providers' own packages, stored and delivered; forgeries refused; a secret rotation keeps both secrets
// valid during its window.
let db: Awaited<ReturnType<typeof createTestDatabase>>;
let target: Awaited<ReturnType<typeof startTarget>>;
let mesh: RunningMesh;
let signingSecret = '';

beforeAll(async () => {
  db = await createTestDatabase('zm_e2e_prov');
  target = await startTarget();
  mesh = await startMesh({ DATABASE_URL: db.url });
  await mesh.cli('tenant', 'create', 'shop');
  const e = await mesh.cli<{ signingSecret: string }>(
    'endpoint',
    'create',
    '--tenant',
    'shop',
    '--url',
    target.url,
  );
  signingSecret = e.signingSecret;
}, 90_000);

afterAll(async () => {
  const code = await mesh?.stop();
  await target?.close();
  await db?.drop();
  expect(code).toBe(0);
}, 60_000);

interface CreatedSource {
  source: { id: string; provider: string; generic: unknown };
  ingestUrl: string;
}

/** Waits for the delivery of `eventId` and checks it with the receiver's own library. */
async function delivered(eventId: string): Promise<unknown> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const r = target.requests.find((q) => q.headers['webhook-id'] === eventId);
    if (r !== undefined) {
      return new Webhook(signingSecret).verify(r.body.toString('utf8'), {
        'webhook-id': String(r.headers['webhook-id']),
        'webhook-timestamp': String(r.headers['webhook-timestamp']),
        'webhook-signature': String(r.headers['webhook-signature']),
      });
    }
    if (Date.now() > deadline) throw new Error(`event ${eventId} was not delivered`);
    await target.waitFor(target.requests.length + 1, Math.max(1, deadline - Date.now())).catch(() => {});
  }
}

const post = (url: string, body: string, headers: Record<string, string>) =>
  fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body });

describe('GitHub source', () => {
  const secret = 'github-webhook-secret';
  let created: CreatedSource;
  const github = async (s: string, body: string, delivery: string) =>
    post(created.ingestUrl, body, {
      'x-hub-signature-256': await signGithub(s, body),
      'x-github-event': 'push',
      'x-github-delivery': delivery,
    });

  it('is created through the CLI with --provider github', async () => {
    created = await mesh.cli<CreatedSource>(
      'source',
      'create',
      '--tenant',
      'shop',
      '--provider',
      'github',
      '--secret',
      secret,
    );
    expect(created.source).toMatchObject({ provider: 'github', generic: null });
    expect(created.ingestUrl).toBe(`${mesh.endpoints.ingester}/v1/webhooks/${created.source.id}`);
  });

  it('accepts a webhook signed by @octokit/webhooks-methods, stores it and delivers it', async () => {
    const body = JSON.stringify({ ref: 'refs/heads/main', after: 'abc123' });
    const res = await github(secret, body, 'gh-delivery-1');
    expect(res.status).toBe(202);
    const { id } = (await res.json()) as { id: string };
    const events = await mesh.cli<{ events: { id: string; type: string; providerDeliveryId: string }[] }>(
      'events',
      'list',
      '--tenant',
      'shop',
    );
    expect(events.events.find((e) => e.id === id)).toMatchObject({
      type: 'com.github.push',
      providerDeliveryId: 'gh-delivery-1',
    });
    expect(await delivered(id)).toEqual({ ref: 'refs/heads/main', after: 'abc123' });
  });

  it('refuses a forged webhook (wrong secret) and a tampered body with 401, storing nothing', async () => {
    const before = (await mesh.cli<{ events: unknown[] }>('events', 'list', '--tenant', 'shop')).events
      .length;
    const body = JSON.stringify({ ref: 'refs/heads/evil' });
    const forged = await github('not-the-secret', body, 'gh-forged-1');
    expect(forged.status).toBe(401);
    expect(await forged.json()).toEqual({ error: 'invalid_signature' });
    const tampered = await post(created.ingestUrl, `${body} `, {
      'x-hub-signature-256': await signGithub(secret, body),
      'x-github-event': 'push',
      'x-github-delivery': 'gh-forged-2',
    });
    expect(tampered.status).toBe(401);
    expect((await mesh.cli<{ events: unknown[] }>('events', 'list', '--tenant', 'shop')).events).toHaveLength(
      before,
    );
  });

  it('accepts the old and the new secret during a rotation, and refuses another one', async () => {
    const rotated = await mesh.cli<{ source: { id: string; previousSecretExpiresAt: string } }>(
      'source',
      'rotate-secret',
      created.source.id,
      '--tenant',
      'shop',
      '--secret',
      'github-webhook-secret-2',
      '--previous-valid',
      '3600',
    );
    expect(Date.parse(rotated.source.previousSecretExpiresAt)).toBeGreaterThan(Date.now() + 3_000_000);
    // The ingester caches a resolved source for up to 30 s; the new secret is accepted once that has passed.
    const deadline = Date.now() + 45_000;
    let status = 0;
    let n = 0;
    while (Date.now() < deadline) {
      const res = await github('github-webhook-secret-2', JSON.stringify({ n: ++n }), `gh-rot-new-${n}`);
      status = res.status;
      if (status === 202) break;
      await new Promise((r) => setTimeout(r, 500));
    }
    expect(status).toBe(202);
    expect((await github(secret, JSON.stringify({ old: true }), 'gh-rot-old')).status).toBe(202);
    expect((await github('github-webhook-secret-3', JSON.stringify({ x: 1 }), 'gh-rot-bad')).status).toBe(
      401,
    );
  }, 60_000);
});

describe('Stripe source', () => {
  const secret = 'whsec_stripe_endpoint_secret_1';
  let created: CreatedSource;
  const stripeBody = (id: string) =>
    JSON.stringify({
      id,
      object: 'event',
      type: 'payment_intent.succeeded',
      created: Math.floor(Date.now() / 1000),
      data: { object: { amount: 4200 } },
    });

  it('is created through the CLI with --provider stripe', async () => {
    created = await mesh.cli<CreatedSource>(
      'source',
      'create',
      '--tenant',
      'shop',
      '--provider',
      'stripe',
      '--secret',
      secret,
      '--name',
      'payments',
    );
    expect(created.source).toMatchObject({ provider: 'stripe' });
  });

  it('accepts a webhook signed by stripe.webhooks.generateTestHeaderString, stores it and delivers it', async () => {
    const body = stripeBody('evt_stripe_1');
    const res = await post(created.ingestUrl, body, {
      'stripe-signature': Stripe.webhooks.generateTestHeaderString({ payload: body, secret }),
    });
    expect(res.status).toBe(202);
    const { id } = (await res.json()) as { id: string };
    const events = await mesh.cli<{ events: { id: string; type: string; providerDeliveryId: string }[] }>(
      'events',
      'list',
      '--tenant',
      'shop',
    );
    expect(events.events.find((e) => e.id === id)).toMatchObject({
      type: 'com.stripe.payment_intent.succeeded',
      providerDeliveryId: 'evt_stripe_1',
    });
    expect(await delivered(id)).toMatchObject({ id: 'evt_stripe_1', type: 'payment_intent.succeeded' });
  });

  it('refuses a forged and an expired signature with 401', async () => {
    const body = stripeBody('evt_stripe_forged');
    const forged = await post(created.ingestUrl, body, {
      'stripe-signature': Stripe.webhooks.generateTestHeaderString({ payload: body, secret: 'whsec_other' }),
    });
    expect(forged.status).toBe(401);
    const expired = await post(created.ingestUrl, body, {
      'stripe-signature': Stripe.webhooks.generateTestHeaderString({
        payload: body,
        secret,
        timestamp: Math.floor(Date.now() / 1000) - 3600,
      }),
    });
    expect(expired.status).toBe(401);
    expect(await expired.json()).toEqual({ error: 'invalid_signature' });
  });

  it('refuses an unknown provider and a Standard Webhooks secret that is not whsec_ base64, through the CLI', async () => {
    const bad = await mesh.cliRaw(
      'source',
      'create',
      '--tenant',
      'shop',
      '--provider',
      'bitbucket',
      '--secret',
      'x',
    );
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toContain('invalid_provider');
    const whsec = await mesh.cliRaw(
      'source',
      'create',
      '--tenant',
      'shop',
      '--provider',
      'svix',
      '--secret',
      'plain',
    );
    expect(whsec.code).not.toBe(0);
    expect(whsec.stderr).toContain('invalid_whsec_secret');
  });
});

describe('a source signed-timestamp tolerance, through the CLI and /api/v1 (issue 12, defect 5)', () => {
  const SECRET = 'whsec_tolerance-mesh';
  const stripeAged = async (url: string, ageS: number) => {
    const t = Math.floor(Date.now() / 1000) - ageS;
    const payload = JSON.stringify({ id: `evt_tol_${t}_${ageS}`, type: 'charge.succeeded', created: t });
    const res = await fetch(url, {
      method: 'POST',
      body: payload,
      headers: {
        'content-type': 'application/json',
        'stripe-signature': Stripe.webhooks.generateTestHeaderString({
          payload,
          secret: SECRET,
          timestamp: t,
        }),
      },
    });
    return res.status;
  };
  const api = (path: string, body: unknown) =>
    fetch(`${mesh.endpoints.bff}${path}`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${readFileSync(join(mesh.home, 'admin-api-key'), 'utf8').trim()}`,
        'content-type': 'application/json',
      },
      body: JSON.stringify(body),
    }).then(async (r) => ({
      status: r.status,
      body: (await r.json()) as { error?: string; message?: string },
    }));

  it('refuses more than an hour, zero or a non-number at creation, in the CLI and at /api/v1, creating nothing', async () => {
    const before = await mesh.cli<{ sources: unknown[] }>('source', 'list', '--tenant', 'shop');
    for (const t of ['3601', '0', '-5', '1.5', 'soon']) {
      const r = await mesh.cliRaw(
        'source',
        'create',
        '--tenant',
        'shop',
        '--provider',
        'stripe',
        '--secret',
        SECRET,
        '--tolerance',
        t,
      );
      // Commander refuses the argument before any request is made (its exit code is 1).
      expect({ t, code: r.code }).toEqual({ t, code: 1 });
      expect(r.stderr).toContain('expected 1-3600 seconds');
    }
    for (const toleranceSeconds of [3601, 0, -5, 1.5]) {
      expect(
        await api('/api/v1/tenants/shop/sources', { provider: 'stripe', secret: SECRET, toleranceSeconds }),
      ).toEqual({
        status: 400,
        body: { error: 'invalid_argument', message: expect.stringContaining('toleranceSeconds: ') },
      });
    }
    const after = await mesh.cli<{ sources: unknown[] }>('source', 'list', '--tenant', 'shop');
    expect(after.sources).toHaveLength(before.sources.length);
  });

  it('is honoured by the ingester as created and as changed by `source update`, and refused above an hour', async () => {
    const tight = await mesh.cli<CreatedSource>(
      'source',
      'create',
      '--tenant',
      'shop',
      '--provider',
      'stripe',
      '--secret',
      SECRET,
      '--tolerance',
      '60',
    );
    expect(await stripeAged(tight.ingestUrl, 30)).toBe(202);
    expect(await stripeAged(tight.ingestUrl, 120)).toBe(401);

    const wide = await mesh.cli<CreatedSource>(
      'source',
      'create',
      '--tenant',
      'shop',
      '--provider',
      'stripe',
      '--secret',
      SECRET,
    );
    const refused = await mesh.cliRaw(
      'source',
      'update',
      wide.source.id,
      '--tenant',
      'shop',
      '--tolerance',
      '3601',
    );
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('expected 1-3600 seconds');
    expect(await api(`/api/v1/tenants/shop/sources/${wide.source.id}`, { toleranceSeconds: 86_400 })).toEqual(
      {
        status: 400,
        body: { error: 'invalid_argument', message: expect.stringContaining('toleranceSeconds: ') },
      },
    );
    const updated = await mesh.cliRaw(
      'source',
      'update',
      wide.source.id,
      '--tenant',
      'shop',
      '--tolerance',
      '1200',
    );
    expect(updated.code).toBe(0);
    expect(updated.stdout).toContain(`Source ${wide.source.id} accepts signed timestamps within 1200 s`);
    expect(await stripeAged(wide.ingestUrl, 900)).toBe(202);
    expect(await stripeAged(wide.ingestUrl, 1300)).toBe(401);
  });
});
