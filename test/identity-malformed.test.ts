// The table of malformed client certificates from issue 3, thrown at real mutual-TLS servers. OpenSSL crafts
// the bad certificates (it is the independent judge of what they contain); the servers are real grpc-js over
// loopback. Each row names who refuses: the TLS handshake, the mesh server's SPIFFE/policy admission alone, or
// the per-call peer guard of @zenmesh/identity in that admission (`createMeshServer({ integrity: false, verifyPeer })`, which
// every service of the mesh runs).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createPeerGuard, createRevocationList } from '@zenmesh/identity';
import {
  type CertificateAuthority,
  createCertificateAuthority,
  generateKeyPair,
  issueSvid,
  spiffeIdFor,
} from '@zenmesh/pki';
import { EgressService } from '@zenmesh/proto';
import {
  Code,
  createIdentityProvider,
  createMeshChannel,
  createMeshServer,
  type MeshServer,
  type TlsIdentity,
} from '@zenmesh/rpc';
import { createLogger } from '@zenmesh/telemetry';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const TD = 'zenmesh.local';
const NS = 'zenmesh';
const logger = createLogger('identity-malformed', { level: 'silent' });
const dir = mkdtempSync(join(tmpdir(), 'zm-identity-malformed-'));
const ingester = spiffeIdFor('ingester');
const backend = spiffeIdFor('backend');
const HOUR = 3600_000;

let ca: CertificateAuthority;
const revocations = createRevocationList();
const guard = createPeerGuard({ trustDomain: TD, revocations });
let meshAddress: string;
let guardedAddress: string;
let guarded: MeshServer;
let stopAll: () => Promise<void>;

const file = (name: string, text: string) => {
  const path = join(dir, name);
  writeFileSync(path, text, { mode: 0o600 });
  return path;
};

/** A leaf signed by `signer` through `openssl x509 -req` with exactly the extensions given. */
async function craft(name: string, signer: CertificateAuthority, ext: string[]): Promise<TlsIdentity> {
  const keyPair = await generateKeyPair();
  const keyPath = file(`${name}.key`, keyPair.privateKeyPem);
  const csr = execFileSync('openssl', ['req', '-new', '-key', keyPath, '-subj', `/CN=${name}`], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  const cert = execFileSync(
    'openssl',
    [
      'x509',
      '-req',
      '-in',
      file(`${name}.csr`, csr),
      '-CA',
      file(`${name}-ca.pem`, signer.certPem),
      '-CAkey',
      file(`${name}-ca.key`, signer.keyPem),
      '-set_serial',
      `0x${Date.now().toString(16)}${Math.floor(Math.random() * 1e6).toString(16)}`,
      '-days',
      '1',
      '-extfile',
      file(`${name}.cnf`, `[v3]\n${ext.join('\n')}\n`),
      '-extensions',
      'v3',
    ],
    { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] },
  );
  return { cert, key: keyPair.privateKeyPem, ca: ca.certPem };
}

const good = (san = `URI:${ingester}`) => [
  'basicConstraints=critical,CA:FALSE',
  'keyUsage=critical,digitalSignature',
  'extendedKeyUsage=serverAuth,clientAuth',
  `subjectAltName=${san}`,
  'subjectKeyIdentifier=hash',
  'authorityKeyIdentifier=keyid',
];

async function viaPki(opts: { now: Date; ttlSeconds: number; caNow?: Date }): Promise<TlsIdentity> {
  const keyPair = await generateKeyPair();
  const issued = await issueSvid({ ca, spiffeId: ingester, publicKeyPem: keyPair.publicKeyPem, ...opts });
  return { cert: issued.certPem, key: keyPair.privateKeyPem, ca: ca.certPem };
}

const rows: Array<{
  name: string;
  make: () => Promise<TlsIdentity>;
  mesh: [Code, string] | 'ok';
  guarded: [Code, string];
}> = [];
let valid: TlsIdentity;
let revoked: TlsIdentity;

beforeAll(async () => {
  // Valid for a year either side of now, so the expired and not-yet-valid leaves still have a valid issuer.
  ca = await createCertificateAuthority({
    trustDomain: TD,
    now: new Date(Date.now() - 2 * HOUR),
    ttlSeconds: 365 * 24 * 3600,
  });
  const serverKey = await generateKeyPair();
  const serverCert = await issueSvid({ ca, spiffeId: backend, publicKeyPem: serverKey.publicKeyPem });
  const serverIdentity = createIdentityProvider({
    cert: serverCert.certPem,
    key: serverKey.privateKeyPem,
    ca: ca.certPem,
  });

  // A real mesh service (health checks bypass admission), open to sa/ingester.
  const mesh = createMeshServer({
    integrity: false,
    service: 'backend',
    identity: serverIdentity,
    trustDomain: TD,
    namespace: NS,
    logger,
    policy: { 'zenmesh.v1.EgressService/Dispatch': ['ingester'] },
  });
  mesh.register(EgressService, { dispatch: async () => ({ accepted: true }) });
  meshAddress = (await mesh.listen('127.0.0.1:0')).address;

  // The same server with the per-call peer guard of @zenmesh/identity in admission (`verifyPeer`), as every
  // mesh service runs it.
  guarded = createMeshServer({
    integrity: false,
    service: 'backend',
    identity: serverIdentity,
    trustDomain: TD,
    namespace: NS,
    logger,
    policy: { 'zenmesh.v1.EgressService/Dispatch': ['ingester'] },
    verifyPeer: guard.verify,
  });
  guarded.register(EgressService, { dispatch: async () => ({ accepted: true }) });
  guardedAddress = (await guarded.listen('127.0.0.1:0')).address;
  stopAll = async () => {
    await mesh.shutdown({ graceMs: 1000 });
    await guarded.shutdown({ graceMs: 1000 });
  };

  valid = await craft('valid', ca, good());
  revoked = await craft('revoked', ca, good());
  const revokedSerial = execFileSync('openssl', ['x509', '-noout', '-serial'], {
    input: revoked.cert,
    encoding: 'utf8',
  })
    .trim()
    .split('=')[1] as string;
  revocations.update(1, [revokedSerial]);

  const handshake: [Code, string] = [Code.UNAVAILABLE, 'handshake'];
  rows.push(
    {
      name: 'two URI SANs',
      make: () => craft('two-uris', ca, good(`URI:${ingester},URI:${spiffeIdFor('egress')}`)),
      mesh: [Code.UNAUTHENTICATED, 'no_peer_identity'],
      guarded: [Code.UNAUTHENTICATED, 'svid_malformed'],
    },
    {
      name: 'CA=true leaf',
      make: () => craft('ca-leaf', ca, ['basicConstraints=critical,CA:TRUE', ...good().slice(1)]),
      mesh: 'ok',
      guarded: [Code.UNAUTHENTICATED, 'svid_malformed'],
    },
    {
      name: 'keyCertSign on a leaf',
      make: () =>
        craft('kcs-leaf', ca, [
          good()[0] as string,
          'keyUsage=critical,digitalSignature,keyCertSign',
          ...good().slice(2),
        ]),
      mesh: 'ok',
      guarded: [Code.UNAUTHENTICATED, 'svid_malformed'],
    },
    {
      name: 'wrong trust domain',
      make: () => craft('other-td', ca, good('URI:spiffe://other.example/ns/zenmesh/sa/ingester')),
      mesh: [Code.PERMISSION_DENIED, 'foreign_trust_domain'],
      guarded: [Code.UNAUTHENTICATED, 'foreign_trust_domain'],
    },
    {
      name: 'expired',
      make: () => viaPki({ now: new Date(Date.now() - HOUR), ttlSeconds: 60 }),
      mesh: handshake,
      guarded: handshake,
    },
    {
      name: 'not yet valid',
      make: () => viaPki({ now: new Date(Date.now() + HOUR), ttlSeconds: 3600 }),
      mesh: handshake,
      guarded: handshake,
    },
    {
      name: 'signed by an unknown CA',
      make: async () => craft('unknown-ca', await createCertificateAuthority({ trustDomain: TD }), good()),
      mesh: handshake,
      guarded: handshake,
    },
    {
      name: 'revoked',
      make: async () => revoked,
      mesh: 'ok',
      guarded: [Code.UNAUTHENTICATED, 'svid_revoked'],
    },
  );
});

afterAll(async () => {
  await stopAll?.();
  rmSync(dir, { recursive: true, force: true });
});

async function call(address: string, identity: TlsIdentity): Promise<'ok' | [Code, string]> {
  const channel = createMeshChannel({
    integrity: false,
    address,
    identity,
    peer: 'backend',
    trustDomain: TD,
    namespace: NS,
    timeoutMs: 3000,
  });
  try {
    await channel.client(EgressService).dispatch({ eventId: 'evt_test' });
    return 'ok';
  } catch (err) {
    const e = err as { code: Code; reason: string };
    // A refused handshake never reaches a server-side reason; the client sees the connection fail.
    return e.code === Code.UNAVAILABLE ? [Code.UNAVAILABLE, 'handshake'] : [e.code, e.reason];
  } finally {
    channel.close();
  }
}

describe('malformed client certificates', () => {
  it('the well-formed control passes both servers', async () => {
    expect(await call(meshAddress, valid)).toBe('ok');
    expect(await call(guardedAddress, valid)).toBe('ok');
  });

  it('openssl agrees the crafted rows carry the defect they are named for', async () => {
    const text = (pem: string) =>
      execFileSync('openssl', ['x509', '-noout', '-text'], { input: pem, encoding: 'utf8' });
    expect(text((await craft('t1', ca, good(`URI:${ingester},URI:${backend}`))).cert)).toMatch(
      /URI:spiffe:\/\/zenmesh\.local\/ns\/zenmesh\/sa\/ingester, URI:spiffe/,
    );
    expect(
      text((await craft('t2', ca, ['basicConstraints=critical,CA:TRUE', ...good().slice(1)])).cert),
    ).toMatch(/CA:TRUE/);
    expect(
      text(
        (
          await craft('t3', ca, [
            good()[0] as string,
            'keyUsage=critical,digitalSignature,keyCertSign',
            ...good().slice(2),
          ])
        ).cert,
      ),
    ).toMatch(/Digital Signature, Certificate Sign/);
    const r = execFileSync(
      'openssl',
      ['verify', '-CAfile', file('judge-ca.pem', ca.certPem), file('judge-valid.pem', valid.cert)],
      { encoding: 'utf8' },
    );
    expect(r.trim()).toMatch(/: OK$/);
  });

  it('every malformed row is refused by the guarded mesh server, with the exact reason, and counted', async () => {
    const before = new Map(guarded.refusals);
    for (const row of rows) {
      const identity = await row.make();
      expect({ row: row.name, result: await call(guardedAddress, identity) }).toEqual({
        row: row.name,
        result: row.guarded,
      });
    }
    const counted = (reason: string) => (guarded.refusals.get(reason) ?? 0) - (before.get(reason) ?? 0);
    // Two URI SANs, CA=true leaf and keyCertSign; one wrong trust domain; one revoked.
    expect([counted('svid_malformed'), counted('foreign_trust_domain'), counted('svid_revoked')]).toEqual([
      3, 1, 1,
    ]);
  });

  it('createMeshServer alone refuses what the handshake and the policy see, and lets the rest through (the gap the hook closes)', async () => {
    for (const row of rows) {
      const identity = await row.make();
      expect({ row: row.name, result: await call(meshAddress, identity) }).toEqual({
        row: row.name,
        result: row.mesh,
      });
    }
  });
});
