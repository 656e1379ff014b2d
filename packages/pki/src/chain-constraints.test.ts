// Chains through intermediate CAs whose pathLenConstraint or name constraints forbid the leaf (RFC 5280
// §4.2.1.9, §4.2.1.10; X509-SVID §4.1, §4.2). Three judges see the same chains: validateSvid (our validator,
// used for renewals and resumed SVIDs, where no handshake ran), `openssl verify`, and a real TLS handshake in
// Node (what every mesh server runs before the per-call guard).
import { spawnSync } from 'node:child_process';
import { createPrivateKey, type webcrypto } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, createServer, type TLSSocket } from 'node:tls';
import { AsnConvert } from '@peculiar/asn1-schema';
import { GeneralName, GeneralSubtree, GeneralSubtrees, Name, NameConstraints } from '@peculiar/asn1-x509';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CertificateAuthority, createCertificateAuthority } from './ca.js';
import { PkiError } from './errors.js';
import { uriHost } from './name-constraints.js';
import { spiffeIdFor } from './spiffe-id.js';
import { issueSvidWithKey } from './svid-issue.js';
import { validateSvid } from './svid-validate.js';
import { OID, x509 } from './x509-provider.js';

type CryptoKey = webcrypto.CryptoKey;
type CryptoKeyPair = webcrypto.CryptoKeyPair;

const TD = 'zenmesh.local';
const HOUR = 3600_000;
const NOW = new Date(Math.floor(Date.now() / 1000) * 1000);
const ALG = { name: 'ECDSA', namedCurve: 'P-256' } as const;
const SIG = { name: 'ECDSA', hash: 'SHA-256' } as const;
const F = x509.KeyUsageFlags;
const backend = spiffeIdFor('backend');
const dir = mkdtempSync(join(tmpdir(), 'zenmesh-pki-chain-'));

interface Issuer {
  name: string;
  key: CryptoKey;
  keyId: string;
}

interface Made {
  pem: string;
  issuer: Issuer;
  keyPem: string;
}

type Subtree = { uri: string } | { dns: string } | { ip: string } | { dn: string };

function generalName(s: Subtree): GeneralName {
  if ('uri' in s) return new GeneralName({ uniformResourceIdentifier: s.uri });
  if ('dns' in s) return new GeneralName({ dNSName: s.dns });
  if ('ip' in s) return new GeneralName({ iPAddress: s.ip });
  return new GeneralName({ directoryName: AsnConvert.parse(new x509.Name(s.dn).toArrayBuffer(), Name) });
}

/** A nameConstraints extension (critical, as RFC 5280 asks of CAs). */
function nameConstraints(spec: {
  permitted?: Subtree[];
  excluded?: Subtree[];
  minimum?: number;
}): x509.Extension {
  const subtrees = (list: Subtree[]) =>
    new GeneralSubtrees(
      list.map((s) => new GeneralSubtree({ base: generalName(s), minimum: spec.minimum ?? 0 })),
    );
  const nc = new NameConstraints();
  if (spec.permitted) nc.permittedSubtrees = subtrees(spec.permitted);
  if (spec.excluded) nc.excludedSubtrees = subtrees(spec.excluded);
  return new x509.Extension(OID.nameConstraints, true, AsnConvert.serialize(nc));
}

let root: CertificateAuthority;
let rootIssuer: Issuer;

function issuerOf(ca: CertificateAuthority): Issuer {
  const cert = new x509.X509Certificate(ca.certPem);
  return {
    name: cert.subject,
    key: createPrivateKey(ca.keyPem).toCryptoKey(ALG, false, ['sign']),
    keyId: cert.getExtension(x509.SubjectKeyIdentifierExtension)?.keyId ?? '',
  };
}

let serial = 1;
async function make(
  issuer: Issuer,
  spec: {
    subject: string;
    ca: boolean;
    pathLength?: number;
    extra?: x509.Extension[];
    uris?: string[];
    dns?: string[];
    ips?: string[];
  },
): Promise<Made> {
  const keys = (await crypto.subtle.generateKey(ALG, true, ['sign', 'verify'])) as CryptoKeyPair;
  const names: x509.JsonGeneralNames = [
    ...(spec.uris ?? []).map((value) => ({ type: 'url' as const, value })),
    ...(spec.dns ?? []).map((value) => ({ type: 'dns' as const, value })),
    ...(spec.ips ?? []).map((value) => ({ type: 'ip' as const, value })),
  ];
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: (serial++).toString(16).padStart(4, '0'),
    subject: spec.subject,
    issuer: issuer.name,
    notBefore: new Date(NOW.getTime() - 60_000),
    notAfter: new Date(NOW.getTime() + HOUR),
    publicKey: keys.publicKey,
    signingKey: issuer.key,
    signingAlgorithm: SIG,
    extensions: [
      new x509.BasicConstraintsExtension(spec.ca, spec.pathLength, true),
      new x509.KeyUsagesExtension(spec.ca ? F.keyCertSign | F.cRLSign : F.digitalSignature, true),
      ...(spec.ca
        ? []
        : [
            new x509.ExtendedKeyUsageExtension([
              x509.ExtendedKeyUsage.serverAuth,
              x509.ExtendedKeyUsage.clientAuth,
            ]),
          ]),
      ...(names.length ? [new x509.SubjectAlternativeNameExtension(names)] : []),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
      new x509.AuthorityKeyIdentifierExtension(issuer.keyId),
      ...(spec.extra ?? []),
    ],
  });
  const pkcs8 = await crypto.subtle.exportKey('pkcs8', keys.privateKey);
  return {
    pem: cert.toString('pem'),
    keyPem: x509.PemConverter.encode(pkcs8, 'PRIVATE KEY'),
    issuer: {
      name: cert.subject,
      key: keys.privateKey,
      keyId: cert.getExtension(x509.SubjectKeyIdentifierExtension)?.keyId ?? '',
    },
  };
}

/** A self-signed bundle CA with the extensions given (beyond CA=true, keyCertSign and its key id). */
async function customRoot(spec: { pathLength?: number; extra?: x509.Extension[] }): Promise<{
  pem: string;
  issuer: Issuer;
}> {
  const keys = (await crypto.subtle.generateKey(ALG, true, ['sign', 'verify'])) as CryptoKeyPair;
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: (serial++).toString(16).padStart(4, '0'),
    name: 'CN=custom root',
    notBefore: new Date(NOW.getTime() - HOUR),
    notAfter: new Date(NOW.getTime() + HOUR),
    keys,
    signingAlgorithm: SIG,
    extensions: [
      new x509.BasicConstraintsExtension(true, spec.pathLength, true),
      new x509.KeyUsagesExtension(F.keyCertSign | F.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
      ...(spec.extra ?? []),
    ],
  });
  return {
    pem: cert.toString('pem'),
    issuer: {
      name: cert.subject,
      key: keys.privateKey,
      keyId: cert.getExtension(x509.SubjectKeyIdentifierExtension)?.keyId ?? '',
    },
  };
}

const intermediate = (issuer: Issuer, subject: string, more: Parameters<typeof make>[1] | object = {}) =>
  make(issuer, { subject, ca: true, uris: [`spiffe://${TD}`], ...more });
const leaf = (issuer: Issuer, more: Partial<Parameters<typeof make>[1]> = {}) =>
  make(issuer, { subject: 'CN=backend', ca: false, uris: [backend], ...more });

/** A chain to judge: the leaf, then the intermediates it presents (leaf's issuer first), and its bundle. */
interface Chain {
  leaf: Made;
  intermediates: Made[];
  bundle: string;
  trustDomain?: string;
}

const presented = (c: Chain) => `${[c.leaf.pem, ...c.intermediates.map((i) => i.pem)].join('\n')}\n`;

function ours(c: Chain): string {
  try {
    validateSvid(presented(c), { bundlePems: [c.bundle], trustDomain: c.trustDomain ?? TD, now: NOW });
    return 'OK';
  } catch (err) {
    if (err instanceof PkiError) return err.code;
    throw err;
  }
}

let files = 0;
/** `openssl verify`: "OK", or the number of the first X509_V_ERR it reports. */
function opensslVerdict(c: Chain): string {
  const n = files++;
  const write = (name: string, text: string) => {
    const path = join(dir, `${n}-${name}.pem`);
    writeFileSync(path, text);
    return path;
  };
  const args = ['verify', '-CAfile', write('bundle', c.bundle)];
  if (c.intermediates.length)
    args.push('-untrusted', write('chain', c.intermediates.map((i) => i.pem).join('\n')));
  args.push(write('leaf', c.leaf.pem));
  const r = spawnSync('openssl', args, { encoding: 'utf8' });
  if (r.status === 0) return 'OK';
  return /error (\d+) at/.exec(`${r.stdout}${r.stderr}`)?.[1] ?? `status ${r.status}: ${r.stderr}`;
}

let serverPem: { certPem: string; keyPem: string };

/** A real TLS handshake: the client presents the chain; the server reports OpenSSL's verdict on it. */
async function handshake(c: Chain): Promise<string> {
  const server = createServer({
    key: serverPem.keyPem,
    cert: serverPem.certPem,
    ca: [c.bundle],
    requestCert: true,
    rejectUnauthorized: false,
  });
  const verdict = new Promise<string>((resolve) => {
    server.on('secureConnection', (socket: TLSSocket) => {
      const err = socket.authorizationError as unknown as { code?: string } | string | null;
      resolve(socket.authorized ? 'OK' : typeof err === 'string' ? err : (err?.code ?? String(err)));
      socket.end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const socket = connect({
    host: '127.0.0.1',
    port: (server.address() as AddressInfo).port,
    ca: [root.certPem],
    key: c.leaf.keyPem,
    cert: presented(c),
    checkServerIdentity: () => undefined,
  });
  socket.on('error', () => undefined);
  try {
    return await verdict;
  } finally {
    socket.destroy();
    await new Promise((resolve) => server.close(resolve));
  }
}

beforeAll(async () => {
  root = await createCertificateAuthority({ trustDomain: TD, now: new Date(NOW.getTime() - HOUR) });
  rootIssuer = issuerOf(root);
  serverPem = await issueSvidWithKey({ ca: root, spiffeId: spiffeIdFor('ca'), now: NOW });
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** root → mid → leaf, mid carrying `more`. */
async function viaOne(more: object, leafMore: Partial<Parameters<typeof make>[1]> = {}): Promise<Chain> {
  const mid = await intermediate(rootIssuer, 'CN=mid', more);
  return { leaf: await leaf(mid.issuer, leafMore), intermediates: [mid], bundle: root.certPem };
}

/** root → top → sub → leaf, top carrying `top`, sub carrying `sub`. */
async function viaTwo(top: object, sub: object = {}): Promise<Chain> {
  const t = await intermediate(rootIssuer, 'CN=top', top);
  const s = await intermediate(t.issuer, 'CN=sub', sub);
  return { leaf: await leaf(s.issuer), intermediates: [s, t], bundle: root.certPem };
}

describe('pathLenConstraint (RFC 5280 §4.2.1.9, X509-SVID §4.1)', () => {
  it('an intermediate with pathLen 0 issuing another CA: all three judges refuse', async () => {
    const chain = await viaTwo({ pathLength: 0 });
    expect(ours(chain)).toBe('ERR_SVID_PATH_LENGTH');
    expect(opensslVerdict(chain)).toBe('25'); // X509_V_ERR_PATH_LENGTH_EXCEEDED
    expect(await handshake(chain)).toBe('PATH_LENGTH_EXCEEDED');
  });

  it('names the CA whose limit was exceeded', async () => {
    const chain = await viaTwo({ pathLength: 0 });
    expect(() =>
      validateSvid(presented(chain), { bundlePems: [root.certPem], trustDomain: TD, now: NOW }),
    ).toThrow('CA "CN=top" allows 0 intermediate CA(s) below it, the path has 1');
  });

  it('a bundle CA with pathLen 0 above an intermediate: refused by us and by OpenSSL alike', async () => {
    const strict = await customRoot({ pathLength: 0 });
    const mid = await intermediate(strict.issuer, 'CN=mid');
    const chain = { leaf: await leaf(mid.issuer), intermediates: [mid], bundle: strict.pem };
    expect(ours(chain)).toBe('ERR_SVID_PATH_LENGTH');
    expect(opensslVerdict(chain)).toBe('25');
  });

  it.each([
    ['pathLen 0 issuing the leaf directly', () => viaOne({ pathLength: 0 })],
    ['pathLen 1 issuing one more CA', () => viaTwo({ pathLength: 1 })],
    ['pathLen 1 on top, pathLen 0 below it', () => viaTwo({ pathLength: 1 }, { pathLength: 0 })],
    ['no pathLen anywhere', () => viaTwo({})],
  ])('accepts %s (the controls), as OpenSSL and the handshake do', async (_name, build) => {
    const chain = await build();
    expect(ours(chain)).toBe('OK');
    expect(opensslVerdict(chain)).toBe('OK');
    expect(await handshake(chain)).toBe('OK');
  });
});

describe('name constraints (RFC 5280 §4.2.1.10, X509-SVID §4.2)', () => {
  it('an intermediate whose excluded URI subtree is the trust domain: all three judges refuse', async () => {
    const chain = await viaOne({ extra: [nameConstraints({ excluded: [{ uri: TD }] })] });
    expect(ours(chain)).toBe('ERR_SVID_NAME_CONSTRAINTS');
    expect(opensslVerdict(chain)).toBe('48'); // X509_V_ERR_EXCLUDED_VIOLATION
    // Node names only some X509_V_ERR codes; a name-constraint violation reaches JS as UNSPECIFIED, but the
    // handshake refused the chain (a server with rejectUnauthorized, as every mesh server, drops it).
    expect(await handshake(chain)).toBe('UNSPECIFIED');
  });

  it('an intermediate permitted only another trust domain: all three judges refuse', async () => {
    const chain = await viaOne({ extra: [nameConstraints({ permitted: [{ uri: 'other.example' }] })] });
    expect(ours(chain)).toBe('ERR_SVID_NAME_CONSTRAINTS');
    expect(opensslVerdict(chain)).toBe('47'); // X509_V_ERR_PERMITTED_VIOLATION
    expect(await handshake(chain)).toBe('UNSPECIFIED');
    expect(() =>
      validateSvid(presented(chain), { bundlePems: [root.certPem], trustDomain: TD, now: NOW }),
    ).toThrow(`leaf SVID: uri name "${backend}" is outside the permitted subtrees of CA "CN=mid"`);
  });

  it('a bundle CA whose name constraints exclude the trust domain: refused by us and by OpenSSL', async () => {
    const fenced = await customRoot({ extra: [nameConstraints({ excluded: [{ uri: TD }] })] });
    const chain = { leaf: await leaf(fenced.issuer), intermediates: [], bundle: fenced.pem };
    expect(ours(chain)).toBe('ERR_SVID_NAME_CONSTRAINTS');
    expect(opensslVerdict(chain)).toBe('48');
  });

  it('a leading "." permits hosts below the domain, not the domain itself (RFC 5280 §4.2.1.10)', async () => {
    const more = { extra: [nameConstraints({ permitted: [{ uri: `.${TD}` }] })] };
    const apex = await viaOne(more);
    expect(ours(apex)).toBe('ERR_SVID_NAME_CONSTRAINTS');
    expect(opensslVerdict(apex)).toBe('47');
    const mid = await intermediate(rootIssuer, 'CN=mid', more);
    const below = {
      leaf: await leaf(mid.issuer, { uris: [spiffeIdFor('backend', { trustDomain: `prod.${TD}` })] }),
      intermediates: [mid],
      bundle: root.certPem,
      trustDomain: `prod.${TD}`,
    };
    expect(ours(below)).toBe('OK');
    expect(opensslVerdict(below)).toBe('OK');
  });

  it('a constraint on a higher CA applies to the intermediates below it, not only the leaf', async () => {
    const t = await intermediate(rootIssuer, 'CN=top', {
      extra: [nameConstraints({ permitted: [{ uri: TD }] })],
    });
    const s = await intermediate(t.issuer, 'CN=sub', { uris: ['spiffe://other.example'] });
    const chain = { leaf: await leaf(s.issuer), intermediates: [s, t], bundle: root.certPem };
    expect(ours(chain)).toBe('ERR_SVID_NAME_CONSTRAINTS');
    expect(opensslVerdict(chain)).toBe('47');
  });

  it('DNS constraints apply to the leaf DNS SANs', async () => {
    const more = { extra: [nameConstraints({ permitted: [{ uri: TD }, { dns: 'svc.internal' }] })] };
    const outside = await viaOne(more, { dns: ['backend.other.internal'] });
    expect(ours(outside)).toBe('ERR_SVID_NAME_CONSTRAINTS');
    expect(opensslVerdict(outside)).toBe('47');
    const inside = await viaOne(more, { dns: ['backend.svc.internal'] });
    expect(ours(inside)).toBe('OK');
    expect(opensslVerdict(inside)).toBe('OK');
  });

  it('a constraint on a form we do not match (IP) refuses a leaf carrying that form, and only such a leaf', async () => {
    const more = { extra: [nameConstraints({ excluded: [{ ip: '10.0.0.0/8' }] })] };
    const withIp = await viaOne(more, { ips: ['10.1.2.3'] });
    expect(ours(withIp)).toBe('ERR_SVID_NAME_CONSTRAINTS');
    expect(opensslVerdict(withIp)).toBe('48');
    const withoutIp = await viaOne(more);
    expect(ours(withoutIp)).toBe('OK');
    expect(opensslVerdict(withoutIp)).toBe('OK');
  });

  it('directoryName constraints are not processed, so we refuse where OpenSSL accepts (fail closed)', async () => {
    const chain = await viaOne({ extra: [nameConstraints({ permitted: [{ dn: 'CN=backend' }] })] });
    expect(ours(chain)).toBe('ERR_SVID_NAME_CONSTRAINTS');
    expect(opensslVerdict(chain)).toBe('OK');
  });

  it('a subtree with a minimum (forbidden by RFC 5280) is refused, as OpenSSL refuses it', async () => {
    const chain = await viaOne({ extra: [nameConstraints({ permitted: [{ uri: TD }], minimum: 1 })] });
    expect(ours(chain)).toBe('ERR_SVID_NAME_CONSTRAINTS');
    expect(opensslVerdict(chain)).toBe('49'); // X509_V_ERR_SUBTREE_MINMAX
  });

  it('accepts a leaf inside the permitted trust domain (the control)', async () => {
    const chain = await viaOne({
      extra: [nameConstraints({ permitted: [{ uri: TD }], excluded: [{ uri: 'evil.example' }] })],
    });
    expect(ours(chain)).toBe('OK');
    expect(opensslVerdict(chain)).toBe('OK');
    expect(await handshake(chain)).toBe('OK');
  });
});

describe('uriHost', () => {
  it.each([
    [backend, TD],
    ['spiffe://Zenmesh.Local/x', TD],
    ['https://user@host.example:8443/p?q#f', 'host.example'],
    ['https://[::1]:443/', '[::1]'],
    ['urn:uuid:1234', undefined],
    ['spiffe:///path', undefined],
  ])('%s → %s', (uri, host) => {
    expect(uriHost(uri)).toBe(host);
  });
});
