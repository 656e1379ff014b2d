import { randomBytes } from 'node:crypto';
import { createDatabase, createScratchDatabase, type Db, migrate, type ScratchDatabase } from '@zenmesh/db';
import { PROVIDERS } from '@zenmesh/providers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listAudit, verifyAudit } from './audit-verify.js';
import { CORE_MIGRATION_SCOPE, CORE_MIGRATIONS } from './migrations.js';
import { createSecretBoxes } from './secrets.js';
import { createSource, listSources, resolveSource, rotateSourceSecret } from './sources.js';
import { createTenant } from './tenants.js';

// Provider sources and secret rotation (issue #5, backend side), on a real Postgres.
const ADMIN_URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const boxes = createSecretBoxes(randomBytes(32));
const unique = () => randomBytes(4).toString('hex');
const WHSEC = `whsec_${randomBytes(24).toString('base64')}`;

let scratch: ScratchDatabase;
let db: Db;

beforeAll(async () => {
  scratch = await createScratchDatabase(ADMIN_URL);
  db = await createDatabase({ url: scratch.url });
  await migrate(db, CORE_MIGRATIONS, { scope: CORE_MIGRATION_SCOPE });
});
afterAll(async () => {
  await db?.close();
  await scratch?.drop();
});

const tenant = async () => (await createTenant(db, `p-${unique()}`)).id;

describe('provider sources', () => {
  it('accepts every provider the ingester verifies; only generic sources carry a generic config', async () => {
    expect(PROVIDERS).toEqual([
      'generic',
      'github',
      'stripe',
      'slack',
      'shopify',
      'gitlab',
      'standard-webhooks',
      'svix',
    ]);
    const t = await tenant();
    for (const provider of PROVIDERS) {
      const secret = provider === 'standard-webhooks' || provider === 'svix' ? WHSEC : `${provider}-secret`;
      const s = await createSource(db, boxes, { tenant: t, provider, name: provider, secret });
      expect(s.provider).toBe(provider);
      expect(s.generic === null).toBe(provider !== 'generic');
      expect(await resolveSource(db, boxes, s.id)).toEqual({ source: s, secrets: [secret] });
    }
    // Stripe's whsec_ secret is used as text by Stripe itself: no base64 rule for it.
    const stripe = await createSource(db, boxes, {
      tenant: t,
      provider: 'stripe',
      name: 'stripe-2',
      secret: 'whsec_not*base64!',
    });
    expect(stripe.provider).toBe('stripe');
  });

  it('keeps the generic timestamp, event-type and delivery-id headers (lower-cased) and a tolerance', async () => {
    const s = await createSource(db, boxes, {
      tenant: await tenant(),
      provider: 'generic',
      name: 'g',
      secret: 'x',
      generic: { timestampHeader: 'X-Timestamp', eventTypeHeader: 'X-Kind', deliveryIdHeader: 'X-Id' },
      toleranceSeconds: 120,
    });
    expect(s.generic).toEqual({
      header: 'x-signature',
      algorithm: 'sha256',
      encoding: 'hex',
      prefix: 'sha256=',
      timestampHeader: 'x-timestamp',
      eventTypeHeader: 'x-kind',
      deliveryIdHeader: 'x-id',
    });
    expect(s.toleranceSeconds).toBe(120);
    expect((await listSources(db, s.tenantId))[0]).toEqual(s);
  });

  it.each([
    ['standard-webhooks', 'not-whsec', undefined, 'invalid_whsec_secret'],
    ['svix', 'whsec_c2hvcnQ=', undefined, 'invalid_whsec_secret'],
    ['svix', 'whsec_***notbase64***', undefined, 'invalid_whsec_secret'],
    ['github', 'x', { header: 'x-hub' }, 'generic_config_not_allowed'],
    ['generic', 'x', { timestampHeader: 'bad header' }, 'invalid_generic_timestamp_header'],
    ['generic', 'x', { eventTypeHeader: 'ünïcode' }, 'invalid_generic_event_type_header'],
    ['generic', 'x', { deliveryIdHeader: 'a:b' }, 'invalid_generic_delivery_id_header'],
    ['generic', 'x', { prefix: ' sha256=' }, 'invalid_generic_prefix'],
    ['generic', 'x', { prefix: 'sig\t' }, 'invalid_generic_prefix'],
    ['generic', 'x', { prefix: 'sïg=' }, 'invalid_generic_prefix'],
    ['generic', 'x', { prefix: 'x'.repeat(33) }, 'invalid_generic_prefix'],
  ])('refuses a %s source with secret %j and generic %j: %s', async (provider, secret, generic, reason) => {
    await expect(
      createSource(db, boxes, { tenant: await tenant(), provider, name: 'n', secret, generic }),
    ).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT', reason });
  });

  it.each([[-1], [3601], [1.5]])('refuses tolerance %d', async (toleranceSeconds) => {
    await expect(
      createSource(db, boxes, {
        tenant: await tenant(),
        provider: 'slack',
        name: 'n',
        secret: 'x',
        toleranceSeconds,
      }),
    ).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT', reason: 'invalid_tolerance_seconds' });
  });
});

describe('source secret rotation', () => {
  it('hands the ingester the new secret first and the old one until it expires, audited without secrets', async () => {
    const t = await tenant();
    const s = await createSource(db, boxes, { tenant: t, provider: 'github', name: 'gh', secret: 'old' });
    const rotated = await rotateSourceSecret(db, boxes, {
      tenant: t,
      sourceId: s.id,
      secret: 'new',
      previousValidS: 600,
      audit: { actor: 'api_key:key_x', ip: '192.0.2.1', userAgent: 'ua' },
    });
    const expires = rotated.previousSecretExpiresAt?.getTime() ?? 0;
    expect(Math.abs(expires - (Date.now() + 600_000))).toBeLessThan(60_000);
    expect((await resolveSource(db, boxes, s.id)).secrets).toEqual(['new', 'old']);

    const entries = await listAudit(db, t, {});
    const last = entries.at(-1);
    expect(last).toMatchObject({
      action: 'source.rotate_secret',
      target: `source/${s.id}`,
      actor: 'api_key:key_x',
    });
    expect(JSON.stringify(entries)).not.toMatch(/"(old|new)"/);
    expect((await verifyAudit(db, t))[0]?.ok).toBe(true);

    // Once the window is over only the current secret is handed out.
    await db.query(
      `update core.sources set previous_secret_expires_at = now() - interval '1 second' where id = $1`,
      [s.id],
    );
    expect((await resolveSource(db, boxes, s.id)).secrets).toEqual(['new']);
    // A second rotation keeps one previous secret: the one current until now.
    await rotateSourceSecret(db, boxes, { tenant: t, sourceId: s.id, secret: 'newer' });
    expect((await resolveSource(db, boxes, s.id)).secrets).toEqual(['newer', 'new']);
  });

  it.each([
    [{ sourceId: 'src_nope' }, 'ERR_NOT_FOUND', 'source_not_found'],
    [{ secret: '' }, 'ERR_INVALID_ARGUMENT', 'empty_secret'],
    [{ previousValidS: 7 * 86400 + 1 }, 'ERR_INVALID_ARGUMENT', 'invalid_previous_valid_s'],
  ])('refuses %j: %s %s', async (patch, code, reason) => {
    const t = await tenant();
    const s = await createSource(db, boxes, { tenant: t, provider: 'gitlab', name: 'gl', secret: 'x' });
    await expect(
      rotateSourceSecret(db, boxes, { tenant: t, sourceId: s.id, secret: 'y', ...patch }),
    ).rejects.toMatchObject({ code, reason });
    expect((await resolveSource(db, boxes, s.id)).secrets).toEqual(['x']);
  });

  it("refuses a whsec secret that does not decode for a Standard Webhooks source, and another tenant's source", async () => {
    const t = await tenant();
    const s = await createSource(db, boxes, { tenant: t, provider: 'svix', name: 'sv', secret: WHSEC });
    await expect(
      rotateSourceSecret(db, boxes, { tenant: t, sourceId: s.id, secret: 'plain' }),
    ).rejects.toMatchObject({ reason: 'invalid_whsec_secret' });
    await expect(
      rotateSourceSecret(db, boxes, { tenant: await tenant(), sourceId: s.id, secret: WHSEC }),
    ).rejects.toMatchObject({ code: 'ERR_NOT_FOUND', reason: 'source_not_found' });
  });
});
