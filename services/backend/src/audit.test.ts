import { randomBytes } from 'node:crypto';
import { createDatabase, createScratchDatabase, type Db } from '@zenmesh/db';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auditRowHash, GENESIS_HASH } from './audit.js';
import { listAudit, verifyAudit } from './audit-verify.js';
import { createBackend } from './backend.js';
import { createEndpoint, updateEndpoint } from './endpoints.js';
import { createSecretBoxes } from './secrets.js';
import { createSource } from './sources.js';
import { createTenant } from './tenants.js';

const ADMIN_URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const masterKey = randomBytes(32);
const boxes = createSecretBoxes(masterKey);
const who = {
  actor: 'api_key:key_test',
  via: 'spiffe://zenmesh.local/ns/zenmesh/sa/bff',
  ip: '203.0.113.7',
  userAgent: 'vitest',
};

// Tampering needs a superuser, as an attacker with direct database access would be: on Postgres a
// second connection, on PGlite its one (superuser) session with the role reset for one transaction.
const backends = [
  {
    name: 'postgres',
    open: async () => {
      const scratch = await createScratchDatabase(ADMIN_URL);
      const admin = await createDatabase({ url: scratch.url });
      const db = await createDatabase({ url: scratch.url });
      return {
        db,
        tamper: (sql: string, params: unknown[]) => admin.query(sql, params).then(() => undefined),
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
        tamper: (sql: string, params: unknown[]) =>
          db.transaction(async (tx) => {
            await tx.exec('set local role none');
            await tx.query(sql, params);
          }),
        cleanup: async () => {},
      };
    },
  },
];

describe.each(backends)('audit chain on $name', ({ open }) => {
  let db: Db;
  let tamper: (sql: string, params: unknown[]) => Promise<void>;
  let cleanup: () => Promise<void>;

  beforeAll(async () => {
    ({ db, tamper, cleanup } = await open());
    await createBackend({ db, masterKey }).migrate();
  });
  afterAll(async () => {
    await db.close();
    await cleanup();
  });

  /** A tenant with five audited mutations: create tenant, source, endpoint, two updates. */
  const busyTenant = async () => {
    const tenant = await createTenant(db, `aud-${randomBytes(4).toString('hex')}`, who);
    await createSource(db, boxes, {
      tenant: tenant.id,
      provider: 'generic',
      name: 's',
      secret: 'never-logged',
      audit: who,
    });
    const { endpoint } = await createEndpoint(db, boxes, {
      tenant: tenant.id,
      url: 'https://x.example/',
      audit: who,
    });
    await updateEndpoint(db, boxes, {
      tenant: tenant.id,
      endpointId: endpoint.id,
      enabled: false,
      audit: who,
    });
    await updateEndpoint(db, boxes, {
      tenant: tenant.id,
      endpointId: endpoint.id,
      maxConcurrency: 5,
      audit: who,
    });
    return { tenant, endpoint };
  };

  it('records actor, via, action, target, before, after, IP and user agent, linked by hashes', async () => {
    const { tenant, endpoint } = await busyTenant();
    const rows = await listAudit(db, tenant.name);
    expect(rows.map((r) => [r.seq, r.action, r.target])).toEqual([
      [1, 'tenant.create', `tenant/${tenant.id}`],
      [2, 'source.create', expect.stringMatching(/^source\/src_/)],
      [3, 'endpoint.create', `endpoint/${endpoint.id}`],
      [4, 'endpoint.update', `endpoint/${endpoint.id}`],
      [5, 'endpoint.update', `endpoint/${endpoint.id}`],
    ]);
    expect(rows[3]).toMatchObject({
      actor: 'api_key:key_test',
      via: who.via,
      ip: '203.0.113.7',
      userAgent: 'vitest',
      before: expect.objectContaining({ enabled: true, disabledReason: null }),
      after: expect.objectContaining({ enabled: false, disabledReason: 'operator' }),
    });
    expect(rows[0]?.prevHash).toBe(GENESIS_HASH);
    for (let i = 1; i < rows.length; i++) expect(rows[i]?.prevHash).toBe(rows[i - 1]?.hash);
    for (const r of rows) expect(auditRowHash(r)).toBe(r.hash);
    expect(JSON.stringify(rows)).not.toContain('never-logged');
    expect(await verifyAudit(db, tenant.id)).toEqual([
      { tenantId: tenant.id, tenantName: tenant.name, rows: 5, ok: true },
    ]);
  });

  it('keeps one chain per tenant without gaps when mutations of one tenant race', async () => {
    const { tenant, endpoint } = await busyTenant();
    await Promise.all(
      Array.from({ length: 12 }, (_, i) =>
        updateEndpoint(db, boxes, {
          tenant: tenant.id,
          endpointId: endpoint.id,
          maxConcurrency: 10 + i,
          audit: who,
        }),
      ),
    );
    const [status] = await verifyAudit(db, tenant.id);
    expect(status).toMatchObject({ ok: true, rows: 17 });
  });

  it('names the tampered row when its content was changed directly in the database', async () => {
    const { tenant } = await busyTenant();
    const rows = await listAudit(db, tenant.id);
    const victim = rows[2];
    await tamper(
      `update core.audit set after = jsonb_set(after, '{url}', '"https://evil.example/"') where id = $1`,
      [victim?.id],
    );
    expect(await verifyAudit(db, tenant.id)).toEqual([
      {
        tenantId: tenant.id,
        tenantName: tenant.name,
        rows: 2,
        ok: false,
        broken: { seq: 3, id: victim?.id, reason: 'hash_mismatch' },
      },
    ]);
  });

  it('names the next row when a row was changed and its hash recomputed (the link breaks)', async () => {
    const { tenant } = await busyTenant();
    const rows = await listAudit(db, tenant.id);
    const victim = rows[1];
    if (victim === undefined) throw new Error('no row');
    const forged = { ...victim, actor: 'someone-else' };
    await tamper('update core.audit set actor = $2, hash = $3 where id = $1', [
      victim.id,
      forged.actor,
      auditRowHash(forged),
    ]);
    const [status] = await verifyAudit(db, tenant.id);
    expect(status).toMatchObject({
      ok: false,
      broken: { seq: 3, id: rows[2]?.id, reason: 'prev_hash_mismatch' },
    });
  });

  it('detects a deleted row (seq_gap) and rows cut off the end (head_mismatch)', async () => {
    const one = await busyTenant();
    const rows = await listAudit(db, one.tenant.id);
    await tamper('delete from core.audit where id = $1', [rows[1]?.id]);
    expect((await verifyAudit(db, one.tenant.id))[0]).toMatchObject({
      ok: false,
      broken: { seq: 3, id: rows[2]?.id, reason: 'seq_gap' },
    });
    const two = await busyTenant();
    await tamper('delete from core.audit where tenant_id = $1 and seq >= 4', [two.tenant.id]);
    expect((await verifyAudit(db, two.tenant.id))[0]).toMatchObject({
      ok: false,
      rows: 3,
      broken: { seq: 5, id: '', reason: 'head_mismatch' },
    });
  });

  it('verifies every tenant when none is named, and a broken tenant does not hide a healthy one', async () => {
    const healthy = await busyTenant();
    const all = await verifyAudit(db);
    expect(all.find((c) => c.tenantId === healthy.tenant.id)).toMatchObject({ ok: true, rows: 5 });
    expect(all.some((c) => !c.ok)).toBe(true);
  });

  it('refuses an unknown tenant with NOT_FOUND tenant_not_found', async () => {
    await expect(verifyAudit(db, 'nobody-here')).rejects.toMatchObject({
      code: 'ERR_NOT_FOUND',
      reason: 'tenant_not_found',
    });
  });
});
