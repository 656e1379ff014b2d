import { randomBytes } from 'node:crypto';
import type { Db } from '@zenmesh/db';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBackend } from './backend.js';
import { leaseDeliveries } from './delivery-lease.js';
import { reportAttempt } from './delivery-report.js';
import { createEndpoint } from './endpoints.js';
import { createSourceTenants, recordEvent } from './event-batch.js';
import { replayEvent } from './replay.js';
import { createRotationWatch } from './rotation-watch.js';
import { createSecretBoxes } from './secrets.js';
import { recordSignatureFailures } from './signature-failures.js';
import { createSource } from './sources.js';
import { updateTenantSettings } from './tenant-settings.js';
import { createTenant } from './tenants.js';
import { DATABASE_KINDS } from './test-support/databases.js';

const masterKey = randomBytes(32);
const boxes = createSecretBoxes(masterKey);
const EGRESS = 'spiffe://zenmesh.local/ns/zenmesh/sa/egress';

describe.each(DATABASE_KINDS)('operational notifications on $name', ({ open }) => {
  let db: Db;
  let cleanup: () => Promise<void>;
  beforeAll(async () => {
    ({ db, cleanup } = await open());
    await createBackend({ db, masterKey }).migrate();
  });
  afterAll(() => cleanup());

  /** A tenant with a source, a webhook endpoint and (unless `notify` is false) a notification endpoint. */
  const tenant = async (name: string, notify = true) => {
    const t = await createTenant(db, name);
    const source = await createSource(db, boxes, {
      tenant: name,
      provider: 'generic',
      name: 's',
      secret: 's3cret',
    });
    const { endpoint: hook } = await createEndpoint(db, boxes, {
      tenant: name,
      url: 'https://customer.example/hook',
      eventTypes: ['order.*'],
    });
    const { endpoint: ops } = await createEndpoint(db, boxes, {
      tenant: name,
      url: 'https://ops.example/zenmesh',
      eventTypes: ['none.such'],
    });
    if (notify) await updateTenantSettings(db, { tenant: name, notificationEndpointId: ops.id });
    return { t, source, hook, ops };
  };
  /** Leases every due delivery of the tenant's notification endpoint (what egress would send). */
  const leaseNotices = async (opsEndpointId: string) =>
    (await leaseDeliveries(db, boxes, { max: 100, owner: EGRESS })).filter(
      (l) => l.delivery.endpointId === opsEndpointId,
    );

  it('an endpoint disabled after a 410 notifies the tenant: one signed-path delivery of zenmesh.endpoint.disabled', async () => {
    const { source, hook, ops } = await tenant('ops-disable');
    const rec = await recordEvent(db, {
      sourceId: source.id,
      type: 'order.created',
      data: Buffer.from('{}'),
    });
    const [leased] = await leaseDeliveries(db, boxes, { eventId: rec.event.id, owner: EGRESS });
    if (leased === undefined) throw new Error('nothing leased');
    await reportAttempt(db, {
      deliveryId: leased.delivery.id,
      leaseToken: leased.leaseToken,
      statusCode: 410,
    });
    const [notice, ...more] = await leaseNotices(ops.id);
    expect(more).toEqual([]);
    expect(notice?.event).toMatchObject({
      type: 'zenmesh.endpoint.disabled',
      source: '/zenmesh',
      sourceId: '',
      datacontenttype: 'application/json',
    });
    expect(notice?.endpointUrl).toBe('https://ops.example/zenmesh');
    // Signed like any delivery: the lease hands egress the notification endpoint's signing secret.
    expect(notice?.signingSecrets[0]).toMatch(/^whsec_/);
    const body = JSON.parse(Buffer.from(notice?.event.data ?? []).toString('utf8'));
    expect(body).toMatchObject({
      subject: `endpoint/${hook.id}`,
      endpointId: hook.id,
      reason: 'gone',
      lastStatusCode: 410,
      url: 'https://customer.example/hook',
    });
    // An operational event is not re-routed by a replay of the event (it has no source to route from).
    await expect(
      replayEvent(db, { tenant: 'ops-disable', eventId: notice?.event.id ?? '' }),
    ).rejects.toMatchObject({
      reason: 'operational_event',
    });
  });

  it('a tenant without a notification endpoint gets no operational event', async () => {
    const { t, source } = await tenant('ops-silent', false);
    const rec = await recordEvent(db, {
      sourceId: source.id,
      type: 'order.created',
      data: Buffer.from('{}'),
    });
    const [leased] = await leaseDeliveries(db, boxes, { eventId: rec.event.id, owner: EGRESS });
    if (leased === undefined) throw new Error('nothing leased');
    await reportAttempt(db, {
      deliveryId: leased.delivery.id,
      leaseToken: leased.leaseToken,
      statusCode: 410,
    });
    const { rows } = await db.withTenant(t.id, (tx) =>
      tx.query(`select 1 from core.events where tenant_id = $1 and origin = 'zenmesh'`, [t.id]),
    );
    expect(rows).toEqual([]);
  });

  it('a signature-failure spike notifies once per source and window; bad reports are refused', async () => {
    const { source, ops } = await tenant('ops-spike');
    const quiet = await tenant('ops-spike-quiet');
    const sources = createSourceTenants(db);
    const policy = { threshold: 5, windowS: 3600 };
    expect(await recordSignatureFailures(db, sources, [{ sourceId: source.id, failures: 3 }], policy)).toBe(
      0,
    );
    expect(await leaseNotices(ops.id)).toEqual([]);
    expect(
      await recordSignatureFailures(
        db,
        sources,
        [
          { sourceId: source.id, failures: 2 },
          { sourceId: quiet.source.id, failures: 1 },
          { sourceId: 'src_deleted_or_unknown', failures: 9 },
        ],
        policy,
      ),
    ).toBe(1);
    // More failures in the same window: no second notice.
    expect(await recordSignatureFailures(db, sources, [{ sourceId: source.id, failures: 50 }], policy)).toBe(
      0,
    );
    const notices = await leaseNotices(ops.id);
    expect(notices.map((n) => n.event.type)).toEqual(['zenmesh.source.signature_failures']);
    expect(JSON.parse(Buffer.from(notices[0]?.event.data ?? []).toString())).toMatchObject({
      sourceId: source.id,
      failures: 5,
      threshold: 5,
      windowSeconds: 3600,
    });
    expect(await leaseNotices(quiet.ops.id)).toEqual([]);
    const tooMany = Array.from({ length: 1001 }, () => ({ sourceId: source.id, failures: 1 }));
    await expect(recordSignatureFailures(db, sources, tooMany, policy)).rejects.toMatchObject({
      reason: 'too_many_sources: at most 1000',
    });
    for (const failures of [0, -1, 1.5, 1_000_001])
      await expect(
        recordSignatureFailures(db, sources, [{ sourceId: source.id, failures }], policy),
      ).rejects.toMatchObject({ reason: 'invalid_failure_count: 1-1000000' });
    await expect(
      recordSignatureFailures(db, sources, [{ sourceId: '', failures: 1 }], policy),
    ).rejects.toMatchObject({
      reason: 'invalid_source_id',
    });
  });

  it('a CA rollback notifies every tenant with a notification endpoint, once, and only a recent one', async () => {
    const a = await tenant('ops-ca-a');
    const b = await tenant('ops-ca-b');
    const none = await tenant('ops-ca-none', false);
    const frozen = new Date();
    let last: { id: string; phase: string; error: string; updatedAt: Date } | undefined = {
      id: 'rot_1',
      phase: 'completed',
      error: '',
      updatedAt: frozen,
    };
    const watch = createRotationWatch({ db, now: () => frozen, lastRotation: async () => last });
    expect(await watch.pollOnce()).toBe(0);
    last = { id: 'rot_2', phase: 'rolled_back', error: 'canary probe failed: backend', updatedAt: frozen };
    const first = await watch.pollOnce();
    // Every tenant of this database with a notification endpoint (earlier tests made some too).
    expect(first).toBeGreaterThanOrEqual(2);
    expect(await watch.pollOnce()).toBe(0);
    // A second backend replica polling the same rollback: still once per tenant.
    expect(
      await createRotationWatch({ db, now: () => frozen, lastRotation: async () => last }).pollOnce(),
    ).toBe(0);
    const leased = await leaseDeliveries(db, boxes, { max: 100, owner: EGRESS });
    for (const t of [a, b]) {
      const notices = leased.filter((l) => l.delivery.endpointId === t.ops.id);
      expect(notices.map((n) => n.event.type)).toEqual(['zenmesh.ca.rotation.rolled_back']);
      expect(JSON.parse(Buffer.from(notices[0]?.event.data ?? []).toString())).toMatchObject({
        rotationId: 'rot_2',
        reason: 'canary probe failed: backend',
      });
    }
    expect(leased.filter((l) => l.delivery.endpointId === none.ops.id)).toEqual([]);
    last = {
      id: 'rot_3',
      phase: 'rolled_back',
      error: 'old',
      updatedAt: new Date(frozen.getTime() - 7_200_000),
    };
    expect(await watch.pollOnce()).toBe(0);
    last = undefined;
    expect(await watch.pollOnce()).toBe(0);
  });
});
