import { randomBytes } from 'node:crypto';
import { type Db, migrate } from '@zenmesh/db';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createOpenedSecrets, leaseDeliveries } from './delivery-lease.js';
import { reportAttempts } from './delivery-report.js';
import { createDeliveryTenants } from './delivery-tenants.js';
import { createEndpoint } from './endpoints.js';
import { recordEvent } from './event-batch.js';
import { CORE_MIGRATION_SCOPE, CORE_MIGRATIONS } from './migrations.js';
import type { DeliveryRecord } from './records.js';
import { createSecretBoxes } from './secrets.js';
import { createSource } from './sources.js';
import { createTenant } from './tenants.js';
import { DATABASE_KINDS } from './test-support/databases.js';

const boxes = createSecretBoxes(randomBytes(32));
const data = new TextEncoder().encode('{}');
type Lease = { deliveryId: string; leaseToken: string };
const unique = () => randomBytes(4).toString('hex');

describe.each(DATABASE_KINDS)('reportAttempts on $name', ({ open }) => {
  let db: Db;
  let cleanup: () => Promise<void>;
  beforeAll(async () => {
    ({ db, cleanup } = await open());
    await migrate(db, CORE_MIGRATIONS, { scope: CORE_MIGRATION_SCOPE });
  });
  afterAll(async () => {
    await db.close();
    await cleanup();
  });

  it('records a batch in one go, refusing a stale lease alone and writing nothing for it', async () => {
    const tenant = await createTenant(db, `t-${unique()}`);
    const source = await createSource(db, boxes, {
      tenant: tenant.id,
      provider: 'generic',
      name: '',
      secret: 's',
    });
    const { endpoint, signingSecret } = await createEndpoint(db, boxes, {
      tenant: tenant.id,
      url: 'https://example.com/hook',
    });
    const events = [];
    for (let i = 0; i < 3; i++)
      events.push(await recordEvent(db, { sourceId: source.id, type: 'push', data }));
    const tenants = createDeliveryTenants();
    const opened = createOpenedSecrets(boxes);
    const leased = [];
    for (const e of events)
      leased.push(...(await leaseDeliveries(db, boxes, { eventId: e.event.id, tenants, opened })));
    expect(leased).toHaveLength(3);
    expect(leased.every((l) => l.signingSecrets[0] === signingSecret)).toBe(true);
    expect(leased[0]?.delivery.endpointId).toBe(endpoint.id);

    const [a, b, c] = leased.map((l) => ({ deliveryId: l.delivery.id, leaseToken: l.leaseToken })) as [
      Lease,
      Lease,
      Lease,
    ];
    const out = await reportAttempts(
      db,
      [
        { ...a, statusCode: 204 },
        { ...b, leaseToken: 'stale', statusCode: 204 },
        { ...c, statusCode: 500 },
        { deliveryId: 'dlv_aaaaaaaaaaaaaaaaaaaaaaaaaa', leaseToken: 'x', statusCode: 204 },
      ],
      { tenants },
    );
    expect(
      out.map((o) => (o instanceof Error ? (o as { reason?: string }).reason : (o as DeliveryRecord).state)),
    ).toEqual(['succeeded', 'lease_lost', 'retrying', 'delivery_not_found']);
    const attempts = await db.withTenant(tenant.id, (tx) =>
      tx.query<{ delivery_id: string }>('select delivery_id from core.attempts where tenant_id = $1', [
        tenant.id,
      ]),
    );
    expect(attempts.rows.map((r) => r.delivery_id).sort()).toEqual([a.deliveryId, c.deliveryId].sort());
    // The endpoint's health followed the attempts in order: a success, then a failure.
    const streak = await db.withTenant(tenant.id, (tx) =>
      tx.query<{ n: number }>('select consecutive_failures as n from core.endpoints where id = $1', [
        endpoint.id,
      ]),
    );
    expect(streak.rows[0]?.n).toBe(1);
    // The stale one still holds its lease and is reported once its real token comes.
    const late = await reportAttempts(db, [{ ...b, statusCode: 204 }]);
    expect((late[0] as DeliveryRecord).state).toBe('succeeded');
  });
});
