// `zenmesh ca status|rotate|revoke` against a real CA over mTLS, as sa/cli, with the CLI's SVID kept current
// on disk by @zenmesh/identity (the `files` option the launcher uses).
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type RunningCaService, startCaService } from '@zenmesh/ca';
import { loadMasterKey } from '@zenmesh/crypto';
import { mintJoinToken, startWorkloadIdentity, type WorkloadIdentity } from '@zenmesh/identity';
import { spiffeIdFor } from '@zenmesh/pki';
import { createMessageIntegrity, MESH_POLICY, type RunningMessageIntegrity } from '@zenmesh/rpc';
import { createLogger } from '@zenmesh/telemetry';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registerCaCommands } from '../packages/cli/dist/commands/ca.js';
import { createContextFactory } from '../packages/cli/dist/commands/context.js';
import { createProgram } from '../packages/cli/dist/program.js';

const TD = 'zenmesh.local';
const logger = createLogger('identity-cli', { level: 'silent' });
const home = mkdtempSync(join(tmpdir(), 'zm-identity-cli-'));
const secrets = join(home, 'secrets');
mkdirSync(secrets, { mode: 0o700 });
writeFileSync(join(secrets, 'master.key'), `${randomBytes(32).toString('base64')}\n`, { mode: 0o600 });

let ca: RunningCaService;
const workloads: WorkloadIdentity[] = [];

const workload = async (service: string, files?: { cert: string; key: string; bundle: string }) => {
  const w = await startWorkloadIdentity({
    integrity: integrity,
    service,
    trustDomain: TD,
    namespace: 'zenmesh',
    caAddress: ca.ready.grpc,
    caJoinAddress: ca.ready.join,
    bundlePem: ca.core.bundle().pems.join('\n'),
    joinToken: mintJoinToken(loadMasterKey(secrets), { spiffeId: spiffeIdFor(service) }).token,
    logger,
    ...(files ? { files } : {}),
  });
  workloads.push(w);
  return w;
};

/** Runs `zenmesh --home <home> [--json] ca …` in-process and captures stdout. */
async function zenmesh(...args: string[]): Promise<{ code: number; stdout: string }> {
  let code = 0;
  const program = createProgram((c: number) => {
    code = c;
  });
  // Until program.ts registers the ca commands (the lead's wiring), add them here.
  if (!program.commands.some((c) => c.name() === 'ca')) {
    registerCaCommands(program, createContextFactory(program), (fn) => async (...a) => {
      code = (await fn(...a)) ?? 0;
    });
  }
  let stdout = '';
  const write = process.stdout.write.bind(process.stdout);
  process.stdout.write = ((chunk: string) => {
    stdout += chunk;
    return true;
  }) as typeof process.stdout.write;
  try {
    await program.parseAsync(['node', 'zenmesh', '--home', home, ...args]);
  } finally {
    process.stdout.write = write;
  }
  return { code, stdout };
}

let integrity: RunningMessageIntegrity;

beforeAll(async () => {
  // Every mesh call is signed (issue 4): the CA, the workloads and the CLI of this process share the keyring.
  integrity = await createMessageIntegrity({ secretsDir: secrets, cluster: TD, logger });
  mkdirSync(join(home, 'ca'), { recursive: true });
  ca = await startCaService({
    integrity: integrity,
    bundleFile: join(home, 'ca', 'bundle.pem'),
    logger,
    trustDomain: TD,
    namespace: 'zenmesh',
    secretsDir: secrets,
    grpcListen: '127.0.0.1:0',
    joinListen: '127.0.0.1:0',
    policy: MESH_POLICY,
  });
  writeFileSync(join(home, 'endpoints.json'), JSON.stringify({ grpc: { ca: ca.ready.grpc } }));
  const dir = join(home, 'svids', 'cli');
  mkdirSync(dir, { recursive: true });
  await workload('cli', {
    cert: join(dir, 'svid.pem'),
    key: join(dir, 'svid-key.pem'),
    bundle: join(dir, 'bundle.pem'),
  });
  await workload('backend');
});

afterAll(async () => {
  for (const w of workloads) w.stop();
  await ca?.stop();
  await integrity?.close();
  rmSync(home, { recursive: true, force: true });
});

describe('zenmesh ca', () => {
  it('status --json lists the CA, the bundle and every SVID with serial, issuer and expiry', async () => {
    const { code, stdout } = await zenmesh('--json', 'ca', 'status');
    expect(code).toBe(0);
    const s = JSON.parse(stdout);
    expect(s.authorities).toHaveLength(1);
    expect(s.authorities[0].state).toBe('active');
    expect(s.bundle.version).toBe(1);
    const backend = s.workloads.find((w: { spiffeId: string }) => w.spiffeId === spiffeIdFor('backend'));
    expect(backend).toMatchObject({ serial: workloads[1]?.state().serial, issuer: s.authorities[0].id });
    expect(new Date(backend.notAfter).getTime()).toBeGreaterThan(Date.now());
  });

  it('the CA keeps the bundle file current for launchers', () => {
    const file = readFileSync(join(home, 'ca', 'bundle.pem'), 'utf8');
    expect(file.match(/BEGIN CERTIFICATE/g)).toHaveLength(1);
    expect(file).toContain((ca.core.bundle().pems[0] as string).trim());
  });

  it('status prints a human table', async () => {
    const { stdout } = await zenmesh('ca', 'status');
    expect(stdout).toContain('Trust domain zenmesh.local; bundle v1 (1 CA)');
    expect(stdout).toMatch(/SPIFFEID\s+SERIAL\s+ISSUER\s+NOTAFTER\s+BUNDLE/);
  });

  it('rotate --abort without a rotation is refused with the CA’s reason', async () => {
    await expect(zenmesh('ca', 'rotate', '--abort')).rejects.toMatchObject({
      code: 'ERR_API',
      message: 'CA refused: no rotation is running',
    });
  });

  it('rotate --canary reports an automatic rollback with its reason and exit code 1', async () => {
    const { code, stdout } = await zenmesh('--json', 'ca', 'rotate', '--canary', 'backend');
    const r = JSON.parse(stdout).rotation;
    expect(r.phase).toBe('rolled_back');
    // This backend serves nothing, so there is nothing to probe: the canary stage cannot pass.
    expect(r.error).toBe(`canary ${spiffeIdFor('backend')} reported no serving address to probe`);
    expect(code).toBe(1);
  }, 60_000);

  it('rotate follows the rotation to the retiring phase; revoke by SPIFFE ID revokes its live SVIDs', async () => {
    const { code, stdout } = await zenmesh('--json', 'ca', 'rotate');
    const r = JSON.parse(stdout).rotation;
    expect(r.history.map((h: { phase: string }) => h.phase)).toEqual([
      'preparing',
      'distributing',
      'probing',
      'rolling_out',
      'retiring',
    ]);
    expect(code).toBe(0);
    // While the old CA retires, the bundle file carries both.
    expect(readFileSync(join(home, 'ca', 'bundle.pem'), 'utf8').match(/BEGIN CERTIFICATE/g)).toHaveLength(2);
    const revoked = await zenmesh('--json', 'ca', 'revoke', spiffeIdFor('backend'), '--reason', 'test');
    expect(JSON.parse(revoked.stdout).revoked.length).toBeGreaterThanOrEqual(1);
    expect((await zenmesh('--json', 'ca', 'status')).stdout).toContain('"revokedSerials": ');
  }, 60_000);
});
