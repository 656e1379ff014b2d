// Issue 12, defect 12, against real mutual-TLS mesh servers (grpc-js over loopback):
// - a client certificate that expires while its connection stays open is refused on that connection's next
//   call by the per-call peer guard, which compares the certificate's own dates with its (frozen) clock;
// - chains through intermediate CAs whose pathLenConstraint or name constraints forbid the leaf are refused
//   at the handshake (OpenSSL enforces both), and our own validator refuses the same chains with the exact
//   reason, since renewals and resumed SVIDs are judged by it without a handshake.
// OpenSSL crafts the intermediates, so the chains are not only what our own issuer can express.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  type CertificateAuthority,
  createCertificateAuthority,
  generateKeyPair,
  issueSvid,
  spiffeIdFor,
  validateSvid,
} from '@zenmesh/pki';
import { EgressService } from '@zenmesh/proto';
import {
  Code,
  createIdentityProvider,
  createMeshChannel,
  createMeshServer,
  type MeshChannel,
  type MeshServer,
  type TlsIdentity,
} from '@zenmesh/rpc';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPeerGuard, createRevocationList } from '../packages/identity/dist/index.js';
import { createLogger } from '../packages/telemetry/dist/index.js';

const TD = 'zenmesh.local';
const NS = 'zenmesh';
const HOUR = 3600_000;
const logger = createLogger('identity-peer-constraints', { level: 'silent' });
const dir = mkdtempSync(join(tmpdir(), 'zm-identity-constraints-'));
const ingester = spiffeIdFor('ingester');
const backend = spiffeIdFor('backend');

let ca: CertificateAuthority;
// The guard's clock; the TLS stack keeps the real one, so the handshake alone would let every call through.
let clock: Date | undefined;
const guard = createPeerGuard({
  trustDomain: TD,
  revocations: createRevocationList(),
  now: () => clock ?? new Date(),
});
let server: MeshServer;
let address: string;

const file = (name: string, text: string) => {
  const path = join(dir, name);
  writeFileSync(path, text, { mode: 0o600 });
  return path;
};
const openssl = (args: string[], input?: string) =>
  execFileSync('openssl', args, { encoding: 'utf8', input, stdio: ['pipe', 'pipe', 'ignore'] });

let serial = 0x1000;
/** `openssl x509 -req`: a certificate for a fresh key, signed by `signer`, with exactly the extensions given. */
async function sign(
  name: string,
  signer: { certPem: string; keyPem: string },
  ext: string[],
): Promise<{ certPem: string; keyPem: string }> {
  const keyPair = await generateKeyPair();
  const csr = openssl([
    'req',
    '-new',
    '-key',
    file(`${name}.key`, keyPair.privateKeyPem),
    '-subj',
    `/CN=${name}`,
  ]);
  const certPem = openssl([
    'x509',
    '-req',
    '-in',
    file(`${name}.csr`, csr),
    '-CA',
    file(`${name}-issuer.pem`, signer.certPem),
    '-CAkey',
    file(`${name}-issuer.key`, signer.keyPem),
    '-set_serial',
    String(serial++),
    '-days',
    '1',
    '-extfile',
    file(`${name}.cnf`, `[v3]\n${ext.join('\n')}\n`),
    '-extensions',
    'v3',
  ]);
  return { certPem, keyPem: keyPair.privateKeyPem };
}

const CA_EXT = [
  'basicConstraints=critical,CA:TRUE',
  'keyUsage=critical,keyCertSign,cRLSign',
  `subjectAltName=URI:spiffe://${TD}`,
  'subjectKeyIdentifier=hash',
  'authorityKeyIdentifier=keyid',
];
const LEAF_EXT = [
  'basicConstraints=critical,CA:FALSE',
  'keyUsage=critical,digitalSignature',
  'extendedKeyUsage=serverAuth,clientAuth',
  `subjectAltName=URI:${ingester}`,
  'subjectKeyIdentifier=hash',
  'authorityKeyIdentifier=keyid',
];

/** A client identity presenting leaf + intermediates (leaf's issuer first), as grpc-js sends them. */
const presenting = (leaf: { certPem: string; keyPem: string }, ...chain: Array<{ certPem: string }>) => ({
  cert: [leaf.certPem, ...chain.map((c) => c.certPem)].join(''),
  key: leaf.keyPem,
  ca: ca.certPem,
});

beforeAll(async () => {
  ca = await createCertificateAuthority({ trustDomain: TD, now: new Date(Date.now() - HOUR) });
  const serverKey = await generateKeyPair();
  const serverCert = await issueSvid({ ca, spiffeId: backend, publicKeyPem: serverKey.publicKeyPem });
  server = createMeshServer({
    service: 'backend',
    identity: createIdentityProvider({
      cert: serverCert.certPem,
      key: serverKey.privateKeyPem,
      ca: ca.certPem,
    }),
    trustDomain: TD,
    namespace: NS,
    logger,
    policy: { 'zenmesh.v1.EgressService/Dispatch': ['ingester'] },
    integrity: false,
    verifyPeer: guard.verify,
  });
  server.register(EgressService, { dispatch: async () => ({ accepted: true }) });
  address = (await server.listen('127.0.0.1:0')).address;
});

afterAll(async () => {
  await server?.shutdown({ graceMs: 1000 });
  rmSync(dir, { recursive: true, force: true });
});

const channelFor = (identity: TlsIdentity): MeshChannel =>
  createMeshChannel({
    address,
    identity,
    peer: 'backend',
    trustDomain: TD,
    namespace: NS,
    integrity: false,
    timeoutMs: 3000,
  });

async function dispatch(channel: MeshChannel): Promise<'ok' | [Code, string]> {
  try {
    await channel.client(EgressService).dispatch({ eventId: 'evt_test' });
    return 'ok';
  } catch (err) {
    const e = err as { code: Code; reason: string };
    // A refused handshake never reaches a server-side reason; the client sees the connection fail.
    return e.code === Code.UNAVAILABLE ? [Code.UNAVAILABLE, 'handshake'] : [e.code, e.reason];
  }
}

describe('a client certificate that expires while its connection stays open', () => {
  it('passes until notAfter, then is refused svid_expired on the same channel, and counted', async () => {
    clock = undefined;
    const keyPair = await generateKeyPair();
    const svid = await issueSvid({
      ca,
      spiffeId: ingester,
      publicKeyPem: keyPair.publicKeyPem,
      ttlSeconds: 600,
    });
    const channel = channelFor({ cert: svid.certPem, key: keyPair.privateKeyPem, ca: ca.certPem });
    const before = server.refusals.get('svid_expired') ?? 0;
    try {
      expect(await dispatch(channel)).toBe('ok');
      clock = new Date(svid.notAfter.getTime() - 1000);
      expect(await dispatch(channel)).toBe('ok');
      clock = new Date(svid.notAfter.getTime() + 1000);
      expect(await dispatch(channel)).toEqual([Code.UNAUTHENTICATED, 'svid_expired']);
      expect(await dispatch(channel)).toEqual([Code.UNAUTHENTICATED, 'svid_expired']);
      expect((server.refusals.get('svid_expired') ?? 0) - before).toBe(2);
    } finally {
      clock = undefined;
      channel.close();
    }
  });

  it('a certificate the guard clock sees as not yet valid is refused svid_not_yet_valid', async () => {
    const keyPair = await generateKeyPair();
    const svid = await issueSvid({ ca, spiffeId: ingester, publicKeyPem: keyPair.publicKeyPem });
    const channel = channelFor({ cert: svid.certPem, key: keyPair.privateKeyPem, ca: ca.certPem });
    try {
      // issueSvid back-dates notBefore by the HMAC window (300 s) for clock skew; six minutes earlier is before it.
      clock = new Date(Date.now() - 360_000);
      expect(await dispatch(channel)).toEqual([Code.UNAUTHENTICATED, 'svid_not_yet_valid']);
      clock = undefined;
      expect(await dispatch(channel)).toBe('ok');
    } finally {
      clock = undefined;
      channel.close();
    }
  });
});

describe('chains through constrained intermediates', () => {
  const validate = (identity: TlsIdentity): string => {
    try {
      validateSvid(identity.cert, { bundlePems: [ca.certPem], trustDomain: TD });
      return 'OK';
    } catch (err) {
      return (err as { code: string }).code;
    }
  };
  const rows: Array<{
    name: string;
    make: () => Promise<TlsIdentity>;
    mesh: 'ok' | [Code, string];
    ours: string;
  }> = [
    {
      name: 'an unconstrained intermediate (the control)',
      make: async () => {
        const mid = await sign('mid-plain', ca, CA_EXT);
        return presenting(await sign('leaf-plain', mid, LEAF_EXT), mid);
      },
      mesh: 'ok',
      ours: 'OK',
    },
    {
      name: 'an intermediate with pathLen 0 that issued another CA',
      make: async () => {
        const top = await sign('top-p0', ca, [
          'basicConstraints=critical,CA:TRUE,pathlen:0',
          ...CA_EXT.slice(1),
        ]);
        const sub = await sign('sub-p0', top, CA_EXT);
        return presenting(await sign('leaf-p0', sub, LEAF_EXT), sub, top);
      },
      mesh: [Code.UNAVAILABLE, 'handshake'],
      ours: 'ERR_SVID_PATH_LENGTH',
    },
    {
      name: 'an intermediate whose name constraints exclude the trust domain',
      make: async () => {
        const mid = await sign('mid-excl', ca, [...CA_EXT, `nameConstraints=critical,excluded;URI:${TD}`]);
        return presenting(await sign('leaf-excl', mid, LEAF_EXT), mid);
      },
      mesh: [Code.UNAVAILABLE, 'handshake'],
      ours: 'ERR_SVID_NAME_CONSTRAINTS',
    },
    {
      name: 'an intermediate permitted only another trust domain',
      make: async () => {
        const mid = await sign('mid-perm', ca, [
          ...CA_EXT,
          'nameConstraints=critical,permitted;URI:other.example',
        ]);
        return presenting(await sign('leaf-perm', mid, LEAF_EXT), mid);
      },
      mesh: [Code.UNAVAILABLE, 'handshake'],
      ours: 'ERR_SVID_NAME_CONSTRAINTS',
    },
  ];

  it.each(rows)('$name: the mesh handshake and validateSvid agree', async (row) => {
    const identity = await row.make();
    const channel = channelFor(identity);
    try {
      expect(await dispatch(channel)).toEqual(row.mesh);
    } finally {
      channel.close();
    }
    expect(validate(identity)).toBe(row.ours);
  });

  it('openssl verify judges the crafted chains the same way', async () => {
    for (const row of rows) {
      const identity = await row.make();
      const [leafPem, ...chain] =
        identity.cert.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----\n?/g) ?? [];
      const r = (() => {
        try {
          openssl([
            'verify',
            '-CAfile',
            file('judge-ca.pem', ca.certPem),
            '-untrusted',
            file('judge-chain.pem', chain.join('')),
            file('judge-leaf.pem', leafPem ?? ''),
          ]);
          return 'OK';
        } catch {
          return 'refused';
        }
      })();
      expect({ row: row.name, openssl: r }).toEqual({
        row: row.name,
        openssl: row.ours === 'OK' ? 'OK' : 'refused',
      });
    }
  });
});
