import { createHmac } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadMasterKey } from '@zenmesh/crypto';
import { spiffeIdFor } from '@zenmesh/pki';
import { TenantService } from '@zenmesh/proto';
import { Code, encodeRequest, probeCall, signatureMetadata } from '@zenmesh/rpc';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { joinAs } from './support/ca-join.js';
import { createTestDatabase } from './support/database.js';
import { type RunningMesh, startMesh, UNLIMITED_EDGE } from './support/mesh.js';
import { cleanRedisPrefix, integrityFor, memoryNonces, randomPrefix } from './support/security-kit.js';

// `zenmesh verify` against the whole mesh as `zenmesh up` runs it, then `zenmesh keys rotate` under
// continuous traffic: no call may fail, and the retired key must stop working.
const REDIS = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const prefix = randomPrefix('verify');
let db: Awaited<ReturnType<typeof createTestDatabase>>;
let mesh: RunningMesh;

interface Report {
  ok: boolean;
  keyring: { active: number };
  flows: Array<{
    flow: string;
    rpc: string;
    cells: Array<{ probe: string; observed: string; pass: boolean }>;
  }>;
  denied: Array<{ flow: string; rpc: string; observed: string; pass: boolean }>;
  failures: unknown[];
  peerEdge: { ok: boolean; flow: string; results: Array<{ check: string; pass: boolean; observed: string }> };
  pairKeys: { ok: boolean; flow: string; results: Array<{ check: string; pass: boolean; observed: string }> };
  edgeBudgets: { ok: boolean; results: Array<{ check: string; pass: boolean; observed: string }> };
}

beforeAll(async () => {
  db = await createTestDatabase();
  mesh = await startMesh({
    ...UNLIMITED_EDGE,
    DATABASE_URL: db.url,
    REDIS_URL: REDIS,
    ZENMESH_REDIS_PREFIX: prefix,
  });
}, 90_000);

afterAll(async () => {
  const code = await mesh?.stop();
  await db?.drop();
  await cleanRedisPrefix(REDIS, prefix);
  expect(code).toBe(0);
}, 60_000);

const FLOWS = [
  'bff → backend',
  'bff → token',
  'bff → ca',
  'bff → ca',
  'ingester → backend',
  'ingester → egress',
  'egress → backend',
  'backend → ca',
];
const REFUSALS: Record<string, RegExp> = {
  no_client_cert: /^UNAVAILABLE \(TLS handshake refused/,
  foreign_trust_domain: /^UNAVAILABLE \(TLS handshake refused/,
  wrong_spiffe_id: /^PERMISSION_DENIED spiffe_id_not_allowed$/,
  no_hmac: /^UNAUTHENTICATED missing_signature$/,
  bad_hmac: /^UNAUTHENTICATED bad_signature$/,
  stale_timestamp: /^UNAUTHENTICATED stale_timestamp$/,
  replayed_nonce: /^UNAUTHENTICATED replayed_nonce$/,
  // Issue 12 defect 9: a covered metadata value changed in flight, and the refusal carries the server's signature.
  tampered_metadata: /^UNAUTHENTICATED bad_signature, refusal signed$/,
  // Issue 12 defect 10: our certificate, a message signed with another service's pair key.
  other_service_key: /^UNAUTHENTICATED bad_signature$/,
};

const verify = async () => {
  const r = await mesh.cliRaw('verify', '--json');
  return { code: r.code, report: JSON.parse(r.stdout) as Report };
};

describe('zenmesh verify on a healthy mesh', () => {
  it('finds every attack refused with its reason and every legitimate call passing', async () => {
    const { code, report } = await verify();
    expect(report.failures).toEqual([]);
    expect(code).toBe(0);
    expect(report.flows.map((f) => f.flow)).toEqual(FLOWS);
    // The console's CA page: the bff reads the CA's status (its rotation calls are not probed: they act).
    expect(report.flows.filter((f) => f.flow === 'bff → ca').map((f) => f.rpc)).toEqual([
      'zenmesh.v1.CaService/GetTrustBundle',
      'zenmesh.v1.CaService/Status',
    ]);
    for (const f of report.flows) {
      for (const c of f.cells) {
        if (c.probe === 'legitimate') {
          expect(c.observed).toMatch(/^OK, response signature verified \(key v1\)$|answered by the handler/);
        } else {
          expect({ flow: f.flow, probe: c.probe, observed: c.observed }).toEqual({
            flow: f.flow,
            probe: c.probe,
            observed: expect.stringMatching(REFUSALS[c.probe] as RegExp),
          });
        }
        expect(c.pass).toBe(true);
      }
      expect(f.cells).toHaveLength(10);
    }
  });

  it('proves the cells a caller must not reach refused by the policy, with its own signed identity', async () => {
    const { report } = await verify();
    expect(report.denied).toEqual([
      {
        flow: 'bff → ca',
        rpc: 'zenmesh.v1.CaService/Revoke',
        expected: 'PERMISSION_DENIED spiffe_id_not_allowed',
        observed: 'PERMISSION_DENIED spiffe_id_not_allowed',
        pass: true,
      },
      ...['ingester', 'egress'].map((client) => ({
        flow: `${client} → ca`,
        rpc: 'zenmesh.v1.CaService/Status',
        expected: 'PERMISSION_DENIED spiffe_id_not_allowed',
        observed: 'PERMISSION_DENIED spiffe_id_not_allowed',
        pass: true,
      })),
    ]);
  });

  it('watches a probe certificate expire on an open connection: refused svid_expired there, at the handshake after', async () => {
    const { report } = await verify();
    expect(report.peerEdge).toEqual({
      ok: true,
      flow: 'ingester → egress',
      results: [
        {
          check: 'expired_svid_open_connection',
          pass: true,
          expected: expect.any(String),
          observed: expect.stringMatching(
            /^OK \(served\) while valid; UNAUTHENTICATED svid_expired after notAfter$/,
          ),
        },
        {
          check: 'expired_svid_new_connection',
          pass: true,
          expected: 'UNAVAILABLE (TLS handshake refused)',
          observed: expect.stringMatching(/^UNAVAILABLE \(TLS handshake refused\)/),
        },
      ],
    });
  });

  it('finds each workload holding only its own pair keys: a policy-admitted stranger is refused no_pair_key', async () => {
    // Issue 12 defect 10: `sa/verify-stranger` may call the CA ('*') with a valid SVID and a master-derived
    // signature, but the CA signs and verifies only with the keys it was given.
    const { report } = await verify();
    expect(report.pairKeys).toEqual({
      ok: true,
      flow: 'bff → ca',
      results: [
        {
          check: 'unkeyed_caller',
          pass: true,
          expected: 'UNAUTHENTICATED no_pair_key',
          observed: 'sa/verify-stranger: UNAUTHENTICATED no_pair_key',
        },
        {
          check: 'workload_secrets',
          pass: true,
          expected: expect.any(String),
          observed: 'each service holds only its own files',
        },
      ],
    });
    // The layout itself: egress, ingester and bff hold no master key at all.
    for (const service of ['egress', 'ingester', 'bff']) {
      expect([service, readdirSync(join(mesh.home, 'workloads', service)).sort()]).toEqual([
        service,
        ['message-keys.json'],
      ]);
    }
  });

  it('sees each public face spend the per-IP budget before its lookup or authentication refuses', async () => {
    const { report } = await verify();
    const budgets = report.edgeBudgets;
    expect(budgets.ok).toBe(true);
    expect(budgets.results.map((r) => [r.check, r.pass])).toEqual([
      ['ingester_ip_budget', true],
      ['token_ip_budget', true],
      ['api_ip_budget', true],
    ]);
    expect(budgets.results.map((r) => r.observed)).toEqual([
      expect.stringMatching(/^HTTP 404 unknown_source limit=\d+ remaining=\d+$/),
      expect.stringMatching(/^HTTP 401 invalid_client limit=\d+ remaining=\d+$/),
      expect.stringMatching(/^HTTP 401 unauthenticated limit=\d+ remaining=\d+$/),
    ]);
  });

  it('prints the matrix for people', async () => {
    const r = await mesh.cliRaw('verify');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(
      /FLOW\s+RPC\s+NO CERT\s+FOREIGN TD\s+WRONG ID\s+NO HMAC\s+BAD HMAC\s+STALE TS\s+REPLAY\s+TAMPERED MD\s+OTHER KEY\s+LEGIT/,
    );
    expect(r.stdout).toContain('All 83 cells hold.');
    expect(r.stdout).toMatch(
      /Peer certificate edge \(ingester → egress\):\n {2}ok {3}expired_svid_open_connection/,
    );
    expect(r.stdout).toMatch(
      /Pair keys \(bff → ca, and each workload's secrets\):\n {2}ok {3}unkeyed_caller/,
    );
    expect(r.stdout).toMatch(
      /Per-IP budgets, spent before any lookup or authentication:\n {2}ok {3}ingester_ip_budget/,
    );
  });
});

describe('zenmesh keys rotate', () => {
  it('rolls the key version under continuous traffic with no failed call, then retires the old key', async () => {
    const key = readFileSync(join(mesh.home, 'admin-api-key'), 'utf8').trim();
    const api = (path: string, init: RequestInit = {}) =>
      fetch(`${mesh.endpoints.bff}${path}`, {
        ...init,
        headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json', ...init.headers },
      });
    expect(
      (await api('/api/v1/tenants', { method: 'POST', body: JSON.stringify({ name: 'rot' }) })).status,
    ).toBe(201);
    const src = await mesh.cli<{ source: { id: string } }>(
      'source',
      'create',
      '--tenant',
      'rot',
      '--secret',
      's3cret',
      // Signs the body alone (the explicit opt-out of a signed timestamp): simpler senders below.
      '--no-timestamp',
    );
    const ingest = `${mesh.endpoints.ingester}/v1/webhooks/${src.source.id}`;

    // Traffic over every signed hop: bff → token/backend (admin API) and ingester → backend/egress (webhooks).
    const failures: string[] = [];
    let calls = 0;
    let running = true;
    const loop = async (one: () => Promise<Response>, ok: number) => {
      while (running) {
        const res = await one().catch(
          (e: unknown) => ({ status: 0, text: async () => String(e) }) as Response,
        );
        calls++;
        if (res.status !== ok) failures.push(`${res.status} ${await res.text()}`);
      }
    };
    const webhook = () => {
      const body = JSON.stringify({ n: calls });
      const sig = `sha256=${createHmac('sha256', 's3cret').update(body).digest('hex')}`;
      return fetch(ingest, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-signature': sig },
        body,
      });
    };
    const loops = [loop(() => api('/api/v1/tenants'), 200), loop(webhook, 202)];

    const wait = async (ms: number) => new Promise((r) => setTimeout(r, ms));
    await wait(1000);
    const before = calls;
    const rotated = await mesh.cliRaw('keys', 'rotate', '--retire-after', '5', '--json');
    expect(rotated.code).toBe(0);
    const result = JSON.parse(rotated.stdout) as {
      previous: number;
      active: number;
      evidence: Record<string, string>;
    };
    expect(result).toMatchObject({ previous: 1, active: 2 });
    expect(Object.keys(result.evidence).sort()).toEqual(['backend', 'ca', 'egress', 'token']);
    // Past the retirement of v1 plus a reload interval, still under traffic.
    await wait(7000);
    running = false;
    await Promise.all(loops);
    expect(failures).toEqual([]);
    expect(calls - before).toBeGreaterThan(20);

    const status = await mesh.cli<{ active: number; keys: Array<{ keyId: string; role: string }> }>(
      'keys',
      'status',
    );
    expect(status.active).toBe(2);
    expect(status.keys).toEqual([
      expect.objectContaining({ keyId: 'v1', role: 'retired' }),
      expect.objectContaining({ keyId: 'v2', role: 'signs and verifies' }),
    ]);

    // Each service's own keyring was rewritten for v2 (the services sign with those, not the master key).
    for (const service of ['ca', 'token', 'backend', 'egress', 'ingester', 'bff']) {
      const file = JSON.parse(
        readFileSync(join(mesh.home, 'workloads', service, 'message-keys.json'), 'utf8'),
      ) as { active: number; keys: Array<{ version: number }> };
      expect([service, file.active, file.keys.map((k) => k.version)]).toEqual([service, 2, [1, 2]]);
    }

    // A request signed with the retired v1 is now refused; verify passes on v2.
    const secrets = join(mesh.home, 'secrets');
    const masterKey = loadMasterKey(secrets);
    const bff = await joinAs(mesh.home, 'bff');
    const bffId = bff.id;
    const v1 = integrityFor({
      masterKey,
      nonces: memoryNonces(),
      state: { active: 1, keys: [{ version: 1 }] },
    });
    const { path, body } = encodeRequest(TenantService, 'listTenants', {});
    const old = await probeCall(
      {
        address: mesh.endpoints.grpc.backend ?? '',
        serverId: spiffeIdFor('backend', { trustDomain: 'zenmesh.local', namespace: 'zenmesh' }),
        trustBundle: bff.ca,
        client: { cert: bff.cert, key: bff.key },
      },
      path,
      body,
      signatureMetadata(
        v1.signer.signRequest({
          path,
          callerId: bffId,
          serverId: spiffeIdFor('backend', { trustDomain: 'zenmesh.local', namespace: 'zenmesh' }),
          body,
        }),
      ),
    );
    expect({ code: old.code, details: old.details }).toEqual({
      code: Code.UNAUTHENTICATED,
      details: 'unknown_key_id',
    });

    const { code, report } = await verify();
    expect(report.failures).toEqual([]);
    expect(code).toBe(0);
    expect(report.keyring.active).toBe(2);
  }, 60_000);
});
