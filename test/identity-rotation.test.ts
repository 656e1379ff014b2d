// Issue 3, end to end over real mutual TLS on loopback: a CA service, two workloads that join with one-time
// tokens and renew themselves, and continuous traffic between them while (a) their SVIDs renew several times
// (TTL 6 s) and (b) a full CA rotation runs; then a rotation whose canary fails its probe and rolls back,
// with traffic still flowing. Zero failed calls is the assertion.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type RunningCaService, startCaService } from '@zenmesh/ca';
import { loadMasterKey } from '@zenmesh/crypto';
import { mintJoinToken, startWorkloadIdentity, type WorkloadIdentity } from '@zenmesh/identity';
import { spiffeIdFor } from '@zenmesh/pki';
import { CaService, EgressService } from '@zenmesh/proto';
import { createMeshChannel, createMeshServer, MESH_POLICY, type MeshServer } from '@zenmesh/rpc';
import { createLogger } from '@zenmesh/telemetry';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const TD = 'zenmesh.local';
const NS = 'zenmesh';
const TTL = 6;
const logger = createLogger('identity-rotation', { level: 'silent' });
const policy = MESH_POLICY;
const secrets = mkdtempSync(join(tmpdir(), 'zm-identity-rotation-'));
writeFileSync(join(secrets, 'master.key'), `${randomBytes(32).toString('base64')}\n`, { mode: 0o600 });

let ca: RunningCaService;
let backend: WorkloadIdentity;
let ingester: WorkloadIdentity;
let cli: WorkloadIdentity;
let server: MeshServer;
let backendAddress: string;

async function workload(service: string): Promise<WorkloadIdentity> {
  const { token } = mintJoinToken(loadMasterKey(secrets), { spiffeId: spiffeIdFor(service) });
  return startWorkloadIdentity({
    integrity: false,
    service,
    trustDomain: TD,
    namespace: NS,
    caAddress: ca.ready.grpc,
    caJoinAddress: ca.ready.join,
    bundlePem: ca.core.bundle().pems.join('\n'),
    joinToken: token,
    logger,
  });
}

/** ingester → backend Dispatch calls, 4 at a time, on one long-lived channel and on a fresh channel per round. */
function startTraffic() {
  const stats = { ok: 0, failed: 0, freshChannels: 0, errors: [] as string[] };
  let running = true;
  const longLived = createMeshChannel({
    integrity: false,
    address: backendAddress,
    identity: ingester.provider,
    peer: 'backend',
    trustDomain: TD,
    namespace: NS,
  });
  const client = longLived.client(EgressService);
  const loop = async (fresh: boolean) => {
    while (running) {
      const channel = fresh
        ? createMeshChannel({
            integrity: false,
            address: backendAddress,
            identity: ingester.provider,
            peer: 'backend',
            trustDomain: TD,
            namespace: NS,
          })
        : undefined;
      try {
        await (channel ? channel.client(EgressService) : client).dispatch({ eventId: 'evt_traffic' });
        stats.ok++;
        if (fresh) stats.freshChannels++;
      } catch (err) {
        stats.failed++;
        stats.errors.push(String(err));
      } finally {
        channel?.close();
      }
      await new Promise((r) => setTimeout(r, 20));
    }
  };
  const loops = [loop(false), loop(false), loop(true), loop(true)];
  return {
    stats,
    async stop() {
      running = false;
      await Promise.all(loops);
      longLived.close();
      return stats;
    },
  };
}

const until = async (what: string, check: () => boolean | Promise<boolean>, timeoutMs = 40_000) => {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
};

beforeAll(async () => {
  ca = await startCaService({
    integrity: false,
    logger,
    trustDomain: TD,
    namespace: NS,
    secretsDir: secrets,
    grpcListen: '127.0.0.1:0',
    joinListen: '127.0.0.1:0',
    svidTtlSeconds: TTL,
    policy,
    rotation: { confirmTimeoutMs: 20_000, reissueTimeoutMs: 20_000 },
  });
  backend = await workload('backend');
  ingester = await workload('ingester');
  cli = await workload('cli');
  server = createMeshServer({
    integrity: false,
    service: 'backend',
    identity: backend.provider,
    trustDomain: TD,
    namespace: NS,
    logger,
    policy,
  });
  server.register(EgressService, { dispatch: async () => ({ accepted: true }) });
  backendAddress = (await server.listen('127.0.0.1:0')).address;
  backend.setServingAddress(backendAddress);
  await until(
    'the CA to learn where backend serves',
    () => ca.core.state.servingAddresses[backend.spiffeId] === backendAddress,
  );
}, 60_000);

afterAll(async () => {
  for (const w of [backend, ingester, cli]) w?.stop();
  await server?.shutdown({ graceMs: 1000 });
  await ca?.stop();
  rmSync(secrets, { recursive: true, force: true });
});

const cliStatus = async () => {
  const channel = createMeshChannel({
    integrity: false,
    address: ca.ready.grpc,
    identity: cli.provider,
    peer: 'ca',
    trustDomain: TD,
    namespace: NS,
  });
  try {
    return await channel.client(CaService).status({});
  } finally {
    channel.close();
  }
};

describe('zero-downtime identity', () => {
  it('SVIDs renew several times at half their lifetime with traffic flowing, and no call fails', async () => {
    const traffic = startTraffic();
    const first = { backend: backend.state().serial, ingester: ingester.state().serial };
    await until('three renewals each', () => backend.state().renewals >= 3 && ingester.state().renewals >= 3);
    const stats = await traffic.stop();
    expect(stats.errors).toEqual([]);
    expect(stats.failed).toBe(0);
    expect(stats.ok).toBeGreaterThan(50);
    expect(stats.freshChannels).toBeGreaterThan(10);
    expect(backend.state().serial).not.toBe(first.backend);
    expect(ingester.state().serial).not.toBe(first.ingester);
    // The issuance log recorded every renewal, and its hash chain is whole.
    const renewals = ca.core.audit.entries().filter((e) => e.action === 'svid.renewed');
    expect(renewals.filter((e) => e.actor === backend.spiffeId).length).toBeGreaterThanOrEqual(3);
    expect(ca.core.audit.verify()).toBeUndefined();
  }, 60_000);

  it('a full CA rotation with a canary runs to completion under traffic, and no call fails', async () => {
    const before = await cliStatus();
    const oldId = before.authorities.find((a) => a.state === 'active')?.id;
    const traffic = startTraffic();
    const started = ca.rotation.start(['backend']);
    expect(started.phase).toBe('preparing');
    await until('the rotation to complete', () => ca.rotation.current()?.phase === 'completed', 60_000);
    const stats = await traffic.stop();
    expect(stats.errors).toEqual([]);
    expect(stats.failed).toBe(0);
    expect(stats.ok).toBeGreaterThan(50);

    const r = ca.rotation.current();
    expect(r?.history.map((h) => h.phase)).toEqual([
      'preparing',
      'distributing',
      'canary',
      'probing',
      'rolling_out',
      'retiring',
      'completed',
    ]);
    const after = await cliStatus();
    const newId = r?.toAuthority;
    expect(after.authorities.find((a) => a.id === oldId)?.state).toBe('retired');
    expect(after.authorities.find((a) => a.id === newId)?.state).toBe('active');
    expect(after.bundleFingerprints).toHaveLength(1);
    for (const w of after.workloads)
      expect({ id: w.spiffeId, issuer: w.issuerId }).toEqual({ id: w.spiffeId, issuer: newId });
    // Every verifier holds the final bundle, which no longer carries the old CA.
    await until('workloads to install the final bundle', () =>
      [backend, ingester, cli].every((w) => w.state().bundleVersion === Number(after.bundleVersion)),
    );
    expect(backend.provider.current().ca).not.toContain(
      ca.core.authority(oldId as string).certPem.slice(30, 90),
    );
    const steps = ca.core.audit
      .entries()
      .filter((e) => e.details.rotation === r?.id)
      .map((e) => e.details.phase);
    expect(steps).toEqual([
      'preparing',
      'distributing',
      'canary',
      'probing',
      'rolling_out',
      'retiring',
      'completed',
    ]);
    expect(ca.core.audit.verify()).toBeUndefined();
  }, 90_000);

  it('a canary that fails its mTLS probe rolls the rotation back automatically, saying why, with traffic flowing', async () => {
    const activeBefore = ca.core.active().id;
    const traffic = startTraffic();
    server.setHealth('', false); // the canary is up and serving calls but reports itself unhealthy
    try {
      ca.rotation.start(['backend']);
      await until(
        'the rollback',
        () => ['rolled_back', 'failed'].includes(ca.rotation.current()?.phase ?? ''),
        60_000,
      );
    } finally {
      server.setHealth('', true);
    }
    const stats = await traffic.stop();
    const r = ca.rotation.current();
    expect(r?.phase).toBe('rolled_back');
    expect(r?.error).toBe(
      `mTLS probe of canary ${backend.spiffeId} at ${backendAddress} failed: health check answered NOT_SERVING`,
    );
    expect(r?.history.map((h) => h.phase)).toEqual([
      'preparing',
      'distributing',
      'canary',
      'probing',
      'rolling_back',
      'rolled_back',
    ]);
    expect(stats.errors).toEqual([]);
    expect(stats.failed).toBe(0);
    expect(ca.core.active().id).toBe(activeBefore);
    expect(ca.core.authority(r?.toAuthority as string).state).toBe('retired');
    expect(ca.core.liveWorkloads().get(backend.spiffeId)?.issuerId).toBe(activeBefore);
    const status = await cliStatus();
    expect(status.rotation?.error).toContain('health check answered NOT_SERVING');
  }, 90_000);
});
