import { randomBytes } from 'node:crypto';
import { createDatabase, createScratchDatabase, type Db } from '@zenmesh/db';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { verifyAudit } from './audit-verify.js';
import { createBackend } from './backend.js';
import { createEndpoint } from './endpoints.js';
import { recordEvent } from './event-batch.js';
import { createRetentionJob } from './retention-job.js';
import { createSecretBoxes } from './secrets.js';
import { createSource } from './sources.js';
import { getTenantSettings, updateTenantSettings } from './tenant-settings.js';
import { createTenant } from './tenants.js';

const ADMIN_URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const masterKey = randomBytes(32);
const boxes = createSecretBoxes(masterKey);
const DAY = 86_400_000;

// Backdating rows needs a superuser, as in audit.test.ts: a second connection on Postgres, the role reset on PGlite.
const backends = [
  {
    name: 'postgres',
    open: async () => {
      const scratch = await createScratchDatabase(ADMIN_URL);
      const admin = await createDatabase({ url: scratch.url });
      const db = await createDatabase({ url: scratch.url });
      return {
        db,
        admin: async <R>(sql: string, params: unknown[] = []) => (await admin.query<R>(sql, params)).rows,
        cleanup: async () => {
          await admin.close();
          await scratch.drop();
        },
      };
    },
  },
  {
    name: 'pglite',
    open: async () => {
      const db = await createDatabase();
      return {
        db,
        admin: <R>(sql: string, params: unknown[] = []) =>
          db.transaction(async (tx) => {
            await tx.exec('set local role none');
            return (await tx.query<R>(sql, params)).rows;
          }),
        cleanup: async () => {},
      };
    },
  },
];

describe.each(backends)('retention on $name', ({ open }) => {
  let db: Db;
  let admin: <R>(sql: string, params?: unknown[]) => Promise<R[]>;
  let cleanup: () => Promise<void>;

  beforeAll(async () => {
    ({ db, admin, cleanup } = await open());
    await createBackend({ db, masterKey }).migrate();
  });
  afterAll(() => cleanup());
  afterEach(() => vi.useRealTimers());

  const tenantWithEndpoint = async (name: string) => {
    const tenant = await createTenant(db, name);
    const source = await createSource(db, boxes, {
      tenant: name,
      provider: 'generic',
      name: 's',
      secret: 's3cret',
    });
    const { endpoint } = await createEndpoint(db, boxes, { tenant: name, url: 'https://example.com/hook' });
    return { tenant, source, endpoint };
  };
  /** One event with one delivery to the tenant's endpoint, received `ageDays` ago, its delivery in `state`. */
  const event = async (sourceId: string, ageDays: number, state: string) => {
    const r = await recordEvent(db, { sourceId, type: 'order.created', data: Buffer.from('{}') });
    await admin(`update core.events set received_at = now() - make_interval(days => $2) where id = $1`, [
      r.event.id,
      ageDays,
    ]);
    await admin(`update core.deliveries set state = $2 where event_id = $1`, [r.event.id, state]);
    for (const d of r.deliveryIds)
      await admin(
        `insert into core.attempts (id, tenant_id, delivery_id, attempt, status_code) select $2, tenant_id, id, 1, 500 from core.deliveries where id = $1`,
        [d, `att_${d}`],
      );
    return r.event.id;
  };
  const exists = async (eventId: string) =>
    (await admin<{ n: number }>('select count(*)::int as n from core.events where id = $1', [eventId]))[0]
      ?.n === 1;

  it('defaults to 30 days; refuses values outside the bounds and unknown endpoints, changing nothing', async () => {
    const { tenant, endpoint } = await tenantWithEndpoint('ret-settings');
    expect(await getTenantSettings(db, tenant.name)).toEqual({
      tenantId: tenant.id,
      retentionDays: 30,
      auditRetentionDays: 365,
      notificationEndpointId: null,
    });
    const refusals: Array<[Record<string, unknown>, string]> = [
      [{ retentionDays: 0 }, 'retention_days_out_of_bounds: 1-365'],
      [{ retentionDays: 366 }, 'retention_days_out_of_bounds: 1-365'],
      [{ retentionDays: 1.5 }, 'retention_days_out_of_bounds: 1-365'],
      [{ auditRetentionDays: 29 }, 'audit_retention_days_out_of_bounds: 30-3650'],
      [{ retentionDays: 7, notificationEndpointId: 'ep_nope' }, 'endpoint_not_found'],
    ];
    for (const [change, reason] of refusals)
      await expect(updateTenantSettings(db, { tenant: tenant.name, ...change })).rejects.toMatchObject({
        reason,
      });
    expect((await getTenantSettings(db, tenant.id)).retentionDays).toBe(30);
    const other = await tenantWithEndpoint('ret-settings-other');
    await expect(
      updateTenantSettings(db, { tenant: tenant.name, notificationEndpointId: other.endpoint.id }),
    ).rejects.toMatchObject({ reason: 'endpoint_not_found' });
    const set = await updateTenantSettings(db, {
      tenant: tenant.name,
      retentionDays: 7,
      notificationEndpointId: endpoint.id,
    });
    expect(set).toMatchObject({
      retentionDays: 7,
      auditRetentionDays: 365,
      notificationEndpointId: endpoint.id,
    });
    expect(
      (await updateTenantSettings(db, { tenant: tenant.name, notificationEndpointId: '' }))
        .notificationEndpointId,
    ).toBeNull();
    const audit = await admin<{ action: string }>(
      `select action from core.audit where tenant_id = $1 and action = 'tenant.settings.update'`,
      [tenant.id],
    );
    expect(audit).toHaveLength(2);
  });

  it('purges finished events past each tenant’s retention with their deliveries and attempts, keeps pending ones', async () => {
    const a = await tenantWithEndpoint('ret-a');
    const b = await tenantWithEndpoint('ret-b');
    await updateTenantSettings(db, { tenant: b.tenant.name, retentionDays: 60 });
    const oldDone = await event(a.source.id, 40, 'succeeded');
    const oldDead = await event(a.source.id, 31, 'dead');
    const oldPending = await event(a.source.id, 40, 'pending');
    const oldRetrying = await event(a.source.id, 40, 'retrying');
    const young = await event(a.source.id, 29, 'succeeded');
    const bOld = await event(b.source.id, 40, 'succeeded');
    const frozen = new Date();
    const job = createRetentionJob({ db, now: () => frozen });
    const done = await job.runOnce();
    expect(done.find((d) => d.tenantId === a.tenant.id)).toEqual({
      tenantId: a.tenant.id,
      events: 2,
      deliveries: 2,
      attempts: 2,
      auditRows: 0,
    });
    expect(done.find((d) => d.tenantId === b.tenant.id)?.events).toBe(0);
    for (const [id, kept] of [
      [oldDone, false],
      [oldDead, false],
      [oldPending, true],
      [oldRetrying, true],
      [young, true],
      [bOld, true],
    ] as const)
      expect(await exists(id), id).toBe(kept);
    const orphans = await admin<{ n: number }>(
      `select count(*)::int as n from core.attempts a where not exists (select 1 from core.deliveries d where d.id = a.delivery_id)`,
    );
    expect(orphans[0]?.n).toBe(0);
    // The run is audited, and the chain still verifies.
    const rows = await admin<{ after: { events: number } }>(
      `select after from core.audit where tenant_id = $1 and action = 'tenant.retention.purge'`,
      [a.tenant.id],
    );
    expect(rows.map((r) => r.after.events)).toEqual([2]);
    expect((await verifyAudit(db, a.tenant.id))[0]?.ok).toBe(true);
  });

  it('purges in bounded batches: at most batchSize × maxBatchesPerRun events per run', async () => {
    const t = await tenantWithEndpoint('ret-batches');
    // Older still, and still needed: never purged, and they do not hide the purgeable ones behind them.
    const waiting = [await event(t.source.id, 90, 'pending'), await event(t.source.id, 90, 'retrying')];
    const ids = [];
    for (let i = 0; i < 5; i++) ids.push(await event(t.source.id, 45, 'succeeded'));
    const frozen = new Date();
    const job = createRetentionJob({ db, now: () => frozen, batchSize: 2, maxBatchesPerRun: 1 });
    const first = await job.runOnce();
    expect(first.find((d) => d.tenantId === t.tenant.id)?.events).toBe(2);
    const second = await job.runOnce();
    expect(second.find((d) => d.tenantId === t.tenant.id)?.events).toBe(2);
    const third = await job.runOnce();
    expect(third.find((d) => d.tenantId === t.tenant.id)?.events).toBe(1);
    for (const id of ids) expect(await exists(id)).toBe(false);
    for (const id of waiting) expect(await exists(id)).toBe(true);
  });

  it('refuses a cutoff younger than one day (a clock running ahead) and a batch over 5000, purging nothing', async () => {
    const t = await tenantWithEndpoint('ret-clock');
    const id = await event(t.source.id, 40, 'succeeded');
    const ahead = new Date(Date.now() + 40 * DAY);
    const refused = await createRetentionJob({ db, now: () => ahead }).runOnce();
    expect(refused.find((d) => d.tenantId === t.tenant.id)).toMatchObject({
      events: 0,
      error: expect.stringMatching(/younger than the smallest retention \(1 day\)/),
    });
    expect(await exists(id)).toBe(true);
    expect(() => createRetentionJob({ db, batchSize: 5001 })).toThrow(TypeError);
    await expect(
      db.withTenant(t.tenant.id, (tx) =>
        tx.query("select * from core.purge_events($1, now() - interval '40 days', 5001)", [t.tenant.id]),
      ),
    ).rejects.toThrow(/batch size 5001 outside/);
    // Another tenant's scope cannot purge this one.
    const other = await createTenant(db, 'ret-clock-other');
    await expect(
      db.withTenant(other.id, (tx) =>
        tx.query("select * from core.purge_events($1, now() - interval '2 days', 10)", [t.tenant.id]),
      ),
    ).rejects.toThrow(/outside the tenant scope/);
    expect(await exists(id)).toBe(true);
  });

  it('purges old audit rows behind a checkpoint that verify starts from; a tampered checkpoint is detected', async () => {
    // Rows written 400 days ago (audit rows take their time from the clock the backend runs on).
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(new Date(Date.now() - 400 * DAY));
    const t = await tenantWithEndpoint('ret-audit');
    vi.useRealTimers();
    await updateTenantSettings(db, { tenant: t.tenant.name, retentionDays: 10 });
    const before = await admin<{ seq: number }>(
      'select seq from core.audit where tenant_id = $1 order by seq',
      [t.tenant.id],
    );
    expect(before.map((r) => Number(r.seq))).toEqual([1, 2, 3, 4]);
    const frozen = new Date();
    const done = await createRetentionJob({ db, now: () => frozen }).runOnce();
    expect(done.find((d) => d.tenantId === t.tenant.id)?.auditRows).toBe(3);
    const [status] = await verifyAudit(db, t.tenant.id);
    // Row 4 (the settings change) and the purge's own audit row are left, verified from checkpoint seq 3.
    expect(status).toMatchObject({ ok: true, rows: 2, checkpointSeq: 3 });
    const [cp] = await admin<{ seq: number; hash: string; purged_rows: number }>(
      'select seq, hash, purged_rows from core.audit_checkpoints where tenant_id = $1',
      [t.tenant.id],
    );
    expect(Number(cp?.purged_rows)).toBe(3);

    await admin('update core.audit_checkpoints set hash = $2 where tenant_id = $1', [
      t.tenant.id,
      'f'.repeat(64),
    ]);
    expect((await verifyAudit(db, t.tenant.id))[0]).toMatchObject({
      ok: false,
      broken: { seq: 4, reason: 'checkpoint_mismatch' },
    });
    await admin('update core.audit_checkpoints set hash = $2, seq = 2 where tenant_id = $1', [
      t.tenant.id,
      cp?.hash,
    ]);
    expect((await verifyAudit(db, t.tenant.id))[0]).toMatchObject({
      ok: false,
      broken: { seq: 4, reason: 'seq_gap' },
    });
    // Rows removed from the start with the checkpoint gone: a gap at the first row left.
    await admin('delete from core.audit_checkpoints where tenant_id = $1', [t.tenant.id]);
    expect((await verifyAudit(db, t.tenant.id))[0]).toMatchObject({
      ok: false,
      broken: { seq: 4, reason: 'seq_gap' },
    });
  });
});
