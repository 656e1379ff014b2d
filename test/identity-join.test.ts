// Join tokens, renewal rules, revocation and the CA's secrets directory, against a real CA service over real
// TLS. Every refusal is asserted with its exact reason.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openConfinedDir, type RunningCaService, startCaService } from '@zenmesh/ca';
import { loadMasterKey } from '@zenmesh/crypto';
import {
  joinTrustDomain,
  mintJoinToken,
  startWorkloadIdentity,
  type WorkloadIdentity,
} from '@zenmesh/identity';
import { createCsr, generateKeyPair, signRenewalProof, spiffeIdFor } from '@zenmesh/pki';
import { CaService } from '@zenmesh/proto';
import { Code, createMeshChannel, MESH_POLICY, type TlsIdentity } from '@zenmesh/rpc';
import { createLogger } from '@zenmesh/telemetry';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const TD = 'zenmesh.local';
const NS = 'zenmesh';
const logger = createLogger('identity-join', { level: 'silent' });
const policy = MESH_POLICY;
const root = mkdtempSync(join(tmpdir(), 'zm-identity-join-'));
const secrets = join(root, 'secrets');
mkdirSync(secrets, { mode: 0o700 });
writeFileSync(join(secrets, 'master.key'), `${randomBytes(32).toString('base64')}\n`, { mode: 0o600 });
const backendId = spiffeIdFor('backend');

let ca: RunningCaService;
let masterKey: Buffer;
const workloads: WorkloadIdentity[] = [];

const start = (secretsDir = secrets) =>
  startCaService({
    integrity: false,
    logger,
    trustDomain: TD,
    namespace: NS,
    secretsDir,
    grpcListen: '127.0.0.1:0',
    joinListen: '127.0.0.1:0',
    policy,
  });

beforeAll(async () => {
  ca = await start();
  masterKey = loadMasterKey(secrets);
});

afterAll(async () => {
  for (const w of workloads) w.stop();
  await ca?.stop();
  rmSync(root, { recursive: true, force: true });
});

const bundlePem = () => ca.core.bundle().pems.join('\n');
const join1 = async (token: string, spiffeId = backendId) => {
  const keyPair = await generateKeyPair();
  return joinTrustDomain({
    joinAddress: ca.ready.join,
    joinToken: token,
    csrPem: await createCsr({ spiffeId, keyPair }),
    bundlePem: bundlePem(),
    caSpiffeId: spiffeIdFor('ca'),
  });
};
const refusal = (p: Promise<unknown>) =>
  p.then(
    () => 'accepted',
    (e: { code?: string; reason?: string }) => `${e.code}:${e.reason}`,
  );

async function workload(service: string) {
  const w = await startWorkloadIdentity({
    integrity: false,
    service,
    trustDomain: TD,
    namespace: NS,
    caAddress: ca.ready.grpc,
    caJoinAddress: ca.ready.join,
    bundlePem: bundlePem(),
    joinToken: mintJoinToken(masterKey, { spiffeId: spiffeIdFor(service) }).token,
    logger,
  });
  workloads.push(w);
  return w;
}
const caClient = (identity: TlsIdentity | WorkloadIdentity['provider']) => {
  const channel = createMeshChannel({
    integrity: false,
    address: ca.ready.grpc,
    identity,
    peer: 'ca',
    trustDomain: TD,
    namespace: NS,
    timeoutMs: 3000,
  });
  return channel.client(CaService);
};

describe('join tokens', () => {
  it('work once; a reused token is refused', async () => {
    const { token, claims } = mintJoinToken(masterKey, { spiffeId: backendId });
    const svid = await join1(token);
    expect(svid.spiffeId).toBe(backendId);
    expect(await refusal(join1(token))).toBe('ERR_JOIN_REFUSED:join_token_used');
    const log = ca.core.audit.entries();
    expect(log.find((e) => e.action === 'svid.joined' && e.details.token === claims.id)?.details.serial).toBe(
      svid.serial,
    );
    expect(log.find((e) => e.action === 'join.refused' && e.details.token === claims.id)?.details.code).toBe(
      'ERR_JOIN_TOKEN_USED',
    );
    // The token itself never reaches the issuance log.
    expect(readFileSync(join(secrets, 'ca', 'issuance.log'), 'utf8')).not.toContain(token.split('.')[2]);
  });

  it('an expired token is refused', async () => {
    const { token } = mintJoinToken(masterKey, {
      spiffeId: backendId,
      ttlSeconds: 60,
      now: new Date(Date.now() - 61_000),
    });
    expect(await refusal(join1(token))).toBe('ERR_JOIN_REFUSED:join_token_expired');
  });

  it('a token admits only the SPIFFE ID it is bound to', async () => {
    const { token } = mintJoinToken(masterKey, { spiffeId: backendId });
    expect(await refusal(join1(token, spiffeIdFor('egress')))).toBe('ERR_JOIN_REFUSED:join_token_identity');
    // A refused attempt does not spend the token.
    expect((await join1(token)).spiffeId).toBe(backendId);
  });

  it('a token minted with another master key, or tampered with, is refused', async () => {
    const foreign = mintJoinToken(randomBytes(32), { spiffeId: backendId }).token;
    expect(await refusal(join1(foreign))).toBe('ERR_JOIN_REFUSED:join_token_invalid');
    const real = mintJoinToken(masterKey, { spiffeId: backendId }).token;
    const [p, body, mac] = real.split('.') as [string, string, string];
    const forged = Buffer.from(
      JSON.stringify({ ...JSON.parse(Buffer.from(body, 'base64url').toString()), sub: spiffeIdFor('cli') }),
    ).toString('base64url');
    expect(await refusal(join1(`${p}.${forged}.${mac}`, spiffeIdFor('cli')))).toBe(
      'ERR_JOIN_REFUSED:join_token_invalid',
    );
  });

  it('the workload refuses a join listener that is not the CA of its bundle (the token never leaves)', async () => {
    const { token, claims } = mintJoinToken(masterKey, { spiffeId: backendId });
    const keyPair = await generateKeyPair();
    const other = await (await import('@zenmesh/pki')).createCertificateAuthority({ trustDomain: TD });
    const r = await refusal(
      joinTrustDomain({
        joinAddress: ca.ready.join,
        joinToken: token,
        csrPem: await createCsr({ spiffeId: backendId, keyPair }),
        bundlePem: other.certPem,
        caSpiffeId: spiffeIdFor('ca'),
      }),
    );
    expect(r).toBe('ERR_JOIN_UNREACHABLE:unreachable');
    expect(ca.core.state.usedJoinTokens[claims.id]).toBeUndefined();
  });
});

describe('an SVID issued through Join, judged by openssl', () => {
  it('verifies strictly against the CA bundle for both TLS purposes and shows the X509-SVID profile', async () => {
    const svid = await join1(mintJoinToken(masterKey, { spiffeId: backendId }).token);
    const certPath = join(root, 'joined.pem');
    const bundlePath = join(root, 'joined-bundle.pem');
    writeFileSync(certPath, svid.certificatePem);
    writeFileSync(bundlePath, svid.bundlePem.join('\n'));
    for (const purpose of ['sslserver', 'sslclient']) {
      const out = execFileSync(
        'openssl',
        ['verify', '-x509_strict', '-purpose', purpose, '-CAfile', bundlePath, certPath],
        { encoding: 'utf8' },
      );
      expect(out.trim()).toBe(`${certPath}: OK`);
    }
    const text = execFileSync('openssl', ['x509', '-noout', '-text', '-in', certPath], { encoding: 'utf8' });
    expect(text).toMatch(
      /X509v3 Subject Alternative Name: ?\n\s+URI:spiffe:\/\/zenmesh\.local\/ns\/zenmesh\/sa\/backend\n/,
    );
    expect(text).toMatch(/X509v3 Basic Constraints: critical\n\s+CA:FALSE\n/);
    expect(text).toMatch(/X509v3 Key Usage: critical\n\s+Digital Signature\n/);
    expect(text).toMatch(
      /X509v3 Extended Key Usage: ?\n\s+TLS Web Server Authentication, TLS Web Client Authentication\n/,
    );
    expect(text).toContain('ASN1 OID: prime256v1');
    const serial = execFileSync('openssl', ['x509', '-noout', '-serial', '-in', certPath], {
      encoding: 'utf8',
    });
    expect(serial.trim().split('=')[1]?.toLowerCase()).toBe(svid.serial);
    const lifetime = execFileSync('openssl', ['x509', '-noout', '-enddate', '-in', certPath], {
      encoding: 'utf8',
    });
    expect(
      Math.abs(new Date(lifetime.trim().split('=')[1] as string).getTime() - Date.now() - 3600_000),
    ).toBeLessThan(120_000);
  });
});

describe('renewal', () => {
  it('renews the caller’s own identity with a proof of its current key', async () => {
    const w = await workload('egress');
    const before = w.state().serial;
    await w.renewNow();
    expect(w.state().serial).not.toBe(before);
    expect(w.state().renewals).toBe(1);
  });

  it('a service cannot renew another’s identity', async () => {
    const ingester = await workload('ingester');
    const backend = await workload('backend');
    const client = caClient(ingester.provider);
    const keyPair = await generateKeyPair();
    // 1. Its own certificate, but a CSR for backend.
    const csrForBackend = await createCsr({ spiffeId: backendId, keyPair });
    const own = ingester.provider.current();
    await expect(
      client.renew({
        csrPem: csrForBackend,
        currentCertificatePem: own.cert,
        proof: signRenewalProof(own.key, csrForBackend),
      }),
    ).rejects.toMatchObject({ code: Code.PERMISSION_DENIED, reason: 'renew_other_identity' });
    // 2. Backend's (public) certificate, signed with the key it does hold.
    await expect(
      client.renew({
        csrPem: csrForBackend,
        currentCertificatePem: backend.provider.current().cert,
        proof: signRenewalProof(own.key, csrForBackend),
      }),
    ).rejects.toMatchObject({ code: Code.PERMISSION_DENIED, reason: 'renew_other_identity' });
    // 3. Its own identity, but a proof not made with its current key.
    const csrOwn = await createCsr({ spiffeId: ingester.spiffeId, keyPair });
    await expect(
      client.renew({
        csrPem: csrOwn,
        currentCertificatePem: own.cert,
        proof: signRenewalProof(keyPair.privateKeyPem, csrOwn),
      }),
    ).rejects.toMatchObject({ code: Code.UNAUTHENTICATED, reason: 'renew_proof_invalid' });
    expect(
      ca.core.audit
        .entries()
        .filter((e) => e.action === 'renew.refused' && e.actor === ingester.spiffeId)
        .map((e) => e.details.code),
    ).toEqual(['ERR_RENEW_IDENTITY', 'ERR_RENEW_IDENTITY', 'ERR_RENEW_PROOF']);
  });

  it('operator methods are for sa/cli (and the console bff, which may read and rotate but never revoke)', async () => {
    const w = await workload('ingester');
    await expect(caClient(w.provider).status({})).rejects.toMatchObject({
      code: Code.PERMISSION_DENIED,
      reason: 'spiffe_id_not_allowed',
    });
    await expect(caClient(w.provider).rotate({})).rejects.toMatchObject({ code: Code.PERMISSION_DENIED });
    await expect(caClient(w.provider).revoke({ spiffeId: w.spiffeId })).rejects.toMatchObject({
      code: Code.PERMISSION_DENIED,
    });
    const bff = await workload('bff');
    await expect(caClient(bff.provider).status({})).resolves.toMatchObject({
      authorities: expect.any(Array),
    });
    await expect(caClient(bff.provider).revoke({ spiffeId: bff.spiffeId })).rejects.toMatchObject({
      code: Code.PERMISSION_DENIED,
      reason: 'spiffe_id_not_allowed',
    });
  });
});

describe('revocation', () => {
  it('reaches every watching verifier within seconds; the revoked SVID can no longer renew', async () => {
    const victim = await workload('token');
    const verifier = await workload('backend');
    const cli = await workload('cli');
    const serial = victim.state().serial;
    expect(verifier.guard.verify(victim.provider.current().cert)).toMatchObject({ ok: true });
    const res = await caClient(cli.provider).revoke({ serial: serial.toUpperCase(), reason: 'test' });
    expect(res.serials).toEqual([serial]);
    const t0 = Date.now();
    while (!verifier.revocations.isRevoked(serial)) {
      if (Date.now() - t0 > 5000) throw new Error('revocation did not arrive within 5 s');
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(verifier.guard.verify(victim.provider.current().cert)).toEqual({
      ok: false,
      reason: 'svid_revoked',
      detail: `${victim.spiffeId} serial ${serial} is revoked`,
    });
    const keyPair = await generateKeyPair();
    const csr = await createCsr({ spiffeId: victim.spiffeId, keyPair });
    const cur = victim.provider.current();
    await expect(
      caClient(cur).renew({
        csrPem: csr,
        currentCertificatePem: cur.cert,
        proof: signRenewalProof(cur.key, csr),
      }),
      // The CA's own per-call peer check refuses the revoked certificate before Renew even runs.
    ).rejects.toMatchObject({ code: Code.UNAUTHENTICATED, reason: 'svid_revoked' });
    await expect(caClient(cli.provider).revoke({ serial: 'ff' })).rejects.toMatchObject({
      code: Code.NOT_FOUND,
      reason: 'no_live_svid',
    });
  });
});

describe('CA key material at rest', () => {
  it('is sealed with the master key: no private key in clear anywhere in the secrets directory', () => {
    const state = readFileSync(join(secrets, 'ca', 'ca-state.json'), 'utf8');
    expect(state).not.toContain('PRIVATE KEY');
    expect(JSON.parse(state).authorities[0].sealedKey).toMatch(/^v1\./);
  });

  it('refuses to start with another master key (one clear line), a loose master key, or a symlinked state file', async () => {
    const other = join(root, 'other');
    mkdirSync(join(other, 'ca'), { recursive: true, mode: 0o700 });
    writeFileSync(join(other, 'master.key'), `${randomBytes(32).toString('base64')}\n`, { mode: 0o600 });
    writeFileSync(join(other, 'ca', 'ca-state.json'), readFileSync(join(secrets, 'ca', 'ca-state.json')), {
      mode: 0o600,
    });
    await expect(start(other)).rejects.toMatchObject({
      code: 'ERR_CA_STATE',
      message: expect.stringMatching(/does not open with this master key$/),
    });

    const loose = join(root, 'loose');
    mkdirSync(loose, { mode: 0o700 });
    writeFileSync(join(loose, 'master.key'), `${randomBytes(32).toString('base64')}\n`);
    chmodSync(join(loose, 'master.key'), 0o644);
    await expect(start(loose)).rejects.toMatchObject({ code: 'ERR_MASTER_KEY_UNREADABLE' });

    const short = join(root, 'short');
    mkdirSync(short, { mode: 0o700 });
    writeFileSync(join(short, 'master.key'), `${randomBytes(16).toString('base64')}\n`, { mode: 0o600 });
    await expect(start(short)).rejects.toMatchObject({ code: 'ERR_MASTER_KEY_INVALID' });

    const linked = join(root, 'linked');
    mkdirSync(join(linked, 'ca'), { recursive: true, mode: 0o700 });
    writeFileSync(join(linked, 'master.key'), `${randomBytes(32).toString('base64')}\n`, { mode: 0o600 });
    symlinkSync(join(secrets, 'ca', 'ca-state.json'), join(linked, 'ca', 'ca-state.json'));
    await expect(start(linked)).rejects.toMatchObject({
      code: 'ERR_SECRETS_DIR',
      message: expect.stringContaining('is a symlink; refusing to follow it'),
    });
  });

  it('confines file names to the directory', () => {
    const dir = openConfinedDir(join(root, 'confined'));
    for (const bad of ['../master.key', 'a/b', '..', '.hidden'])
      expect(() => dir.read(bad)).toThrow(TypeError);
  });

  it('keeps a hash-chained issuance log that names the first broken link', () => {
    expect(ca.core.audit.verify()).toBeUndefined();
    const path = join(secrets, 'ca', 'issuance.log');
    const lines = readFileSync(path, 'utf8').trim().split('\n');
    const edited = JSON.parse(lines[2] as string);
    edited.details.serial = 'deadbeef';
    lines[2] = JSON.stringify(edited);
    writeFileSync(path, `${lines.join('\n')}\n`);
    expect(ca.core.audit.verify()).toBe(3);
  });
});
