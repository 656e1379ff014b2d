import { createDatabase, type Db } from '@zenmesh/db';
import {
  type AuditChainStatus,
  AuditService,
  EndpointService,
  SourceService,
  TenantService,
} from '@zenmesh/proto';
import type { MeshChannel } from '@zenmesh/rpc';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AuditVerifyJson, formatAuditVerify } from '../packages/cli/src/commands/audit.js';
import { createMeshFixture, type MeshFixture, TD } from './support/mesh-fixture.js';

// Issue #6: "Tampering with one audit row directly in Postgres makes `zenmesh audit verify` fail at
// that row." Driven through the backend's AuditService over mutual TLS (as the bff calls it) and the
// CLI's own formatting of the answer.
let fixture: MeshFixture;
let admin: Db;
let bff: MeshChannel;

/** What the bff's GET /api/v1/audit/verify answers for a VerifyAuditResponse (the REST contract). */
const toJson = (res: { ok: boolean; chains: AuditChainStatus[] }): AuditVerifyJson => ({
  ok: res.ok,
  chains: res.chains.map((c) => ({
    tenantId: c.tenantId,
    tenantName: c.tenantName,
    rows: Number(c.rows),
    ok: c.ok,
    broken: c.ok ? null : { seq: Number(c.brokenSeq), id: c.brokenId, reason: c.reason },
  })),
});

beforeAll(async () => {
  fixture = await createMeshFixture('audit-verify');
  const backend = await fixture.startBackend();
  // A second connection, as an attacker with database access would have: it edits rows behind the backend.
  admin = await createDatabase({ url: backend.url });
  fixture.defer(() => admin.close());
  bff = await fixture.channel('bff', 'backend', backend.address);
});

afterAll(() => fixture?.stop());

describe('zenmesh audit verify', () => {
  it('is intact after real mutations, then names the row tampered with in Postgres', async () => {
    const audit = { actor: 'api_key:key_audit', ip: '198.51.100.4', userAgent: 'zenmesh-cli/0.1' };
    const { tenant } = await bff.client(TenantService).createTenant({ name: 'audited', audit });
    await bff
      .client(SourceService)
      .createSource({ tenant: 'audited', provider: 'generic', name: 'gh', secret: 's', audit });
    const { endpoint } = await bff
      .client(EndpointService)
      .createEndpoint({ tenant: 'audited', url: 'https://a.example/', audit });
    await bff
      .client(EndpointService)
      .updateEndpoint({ tenant: 'audited', endpointId: endpoint?.id ?? '', enabled: false, audit });
    await bff.client(TenantService).createTenant({ name: 'bystander', audit });

    const { entries } = await bff.client(AuditService).listAudit({ tenant: 'audited' });
    expect(entries.map((e) => [Number(e.seq), e.action])).toEqual([
      [1, 'tenant.create'],
      [2, 'source.create'],
      [3, 'endpoint.create'],
      [4, 'endpoint.update'],
    ]);
    expect(entries[3]).toMatchObject({
      actor: 'api_key:key_audit',
      via: `spiffe://${TD.trustDomain}/ns/${TD.namespace}/sa/bff`,
      ip: '198.51.100.4',
      userAgent: 'zenmesh-cli/0.1',
      target: `endpoint/${endpoint?.id}`,
    });
    expect(JSON.parse(entries[3]?.beforeJson ?? '')).toMatchObject({ enabled: true });
    expect(JSON.parse(entries[3]?.afterJson ?? '')).toMatchObject({
      enabled: false,
      disabledReason: 'operator',
    });

    const intact = toJson(await bff.client(AuditService).verifyAudit({ tenant: '' }));
    expect(intact.ok).toBe(true);
    expect(formatAuditVerify(intact)).toEqual([
      `tenant audited (${tenant?.id}): OK, 4 rows verified`,
      expect.stringMatching(/^tenant bystander \(ten_[a-z2-7]{26}\): OK, 1 row verified$/),
      'audit chain intact',
    ]);

    // An attacker with database access rewrites who did it.
    const victim = entries[1];
    await admin.query(`update core.audit set actor = 'api_key:someone_else' where id = $1`, [victim?.id]);

    const broken = toJson(await bff.client(AuditService).verifyAudit({ tenant: 'audited' }));
    expect(broken).toEqual({
      ok: false,
      chains: [
        {
          tenantId: tenant?.id,
          tenantName: 'audited',
          rows: 1,
          ok: false,
          broken: { seq: 2, id: victim?.id, reason: 'hash_mismatch' },
        },
      ],
    });
    expect(formatAuditVerify(broken)).toEqual([
      `tenant audited (${tenant?.id}): BROKEN at seq 2 (${victim?.id}): hash_mismatch, the row was changed after it was written; 1 row before it verified`,
      'audit chain BROKEN',
    ]);
    // The other tenant's chain is untouched and still verifies.
    expect(toJson(await bff.client(AuditService).verifyAudit({ tenant: 'bystander' })).ok).toBe(true);
  });
});
