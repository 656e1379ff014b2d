import { createPrivateKey, type webcrypto, X509Certificate } from 'node:crypto';

type CryptoKey = webcrypto.CryptoKey;
type CryptoKeyPair = webcrypto.CryptoKeyPair;

import * as x509 from '@peculiar/x509';
import { beforeAll, describe, expect, it } from 'vitest';
import { type CertificateAuthority, createCertificateAuthority } from './ca.js';
import { PkiError } from './errors.js';
import { fingerprint } from './fingerprint.js';
import { generateKeyPair } from './keys.js';
import { spiffeIdFromCertificate } from './san.js';
import { spiffeIdFor } from './spiffe-id.js';
import { issueSvid, issueSvidWithKey } from './svid-issue.js';
import { checkSvidProfile, validateSvid } from './svid-validate.js';

const TD = 'zenmesh.local';
const HOUR = 3600_000;
const NOW = new Date(Math.floor(Date.now() / 1000) * 1000);
const ALG = { name: 'ECDSA', namedCurve: 'P-256' } as const;
const SIG = { name: 'ECDSA', hash: 'SHA-256' } as const;
const backend = spiffeIdFor('backend');
const F = x509.KeyUsageFlags;

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    return err instanceof PkiError ? err.code : `not a PkiError: ${String(err)}`;
  }
  return undefined;
}

interface Issuer {
  name: string;
  key: CryptoKey;
  keyId: string;
}

function issuerOf(ca: CertificateAuthority): Issuer {
  const cert = new x509.X509Certificate(ca.certPem);
  return {
    name: cert.subject,
    key: createPrivateKey(ca.keyPem).toCryptoKey(ALG, false, ['sign']),
    keyId: cert.getExtension(x509.SubjectKeyIdentifierExtension)?.keyId ?? '',
  };
}

interface LeafSpec {
  uris?: string[];
  dns?: string[];
  ca?: boolean | null; // null: no basicConstraints at all
  keyUsage?: number | null; // null: no keyUsage extension
  eku?: string[] | null;
  notBefore?: Date;
  notAfter?: Date;
  extra?: x509.Extension[];
  subject?: string;
}

/** Builds a leaf with exactly the defects asked for; defaults give a valid SVID for `backend`. */
async function craft(issuer: Issuer, spec: LeafSpec = {}): Promise<{ pem: string; keys: CryptoKeyPair }> {
  const keys = (await crypto.subtle.generateKey(ALG, true, ['sign', 'verify'])) as CryptoKeyPair;
  const extensions: x509.Extension[] = [];
  if (spec.ca !== null)
    extensions.push(new x509.BasicConstraintsExtension(spec.ca ?? false, undefined, true));
  if (spec.keyUsage !== null)
    extensions.push(new x509.KeyUsagesExtension(spec.keyUsage ?? F.digitalSignature, true));
  if (spec.eku !== null) {
    extensions.push(
      new x509.ExtendedKeyUsageExtension(
        spec.eku ?? [x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth],
      ),
    );
  }
  const names: x509.JsonGeneralNames = [
    ...(spec.uris ?? [backend]).map((value) => ({ type: 'url' as const, value })),
    ...(spec.dns ?? []).map((value) => ({ type: 'dns' as const, value })),
  ];
  if (names.length) extensions.push(new x509.SubjectAlternativeNameExtension(names));
  extensions.push(await x509.SubjectKeyIdentifierExtension.create(keys.publicKey));
  extensions.push(new x509.AuthorityKeyIdentifierExtension(issuer.keyId));
  extensions.push(...(spec.extra ?? []));
  const cert = await x509.X509CertificateGenerator.create({
    subject: spec.subject ?? 'CN=crafted',
    issuer: issuer.name,
    notBefore: spec.notBefore ?? new Date(NOW.getTime() - 60_000),
    notAfter: spec.notAfter ?? new Date(NOW.getTime() + HOUR),
    publicKey: keys.publicKey,
    signingKey: issuer.key,
    signingAlgorithm: SIG,
    extensions,
  });
  return { pem: cert.toString('pem'), keys };
}

let ca: CertificateAuthority;
let issuer: Issuer;
let stranger: CertificateAuthority;
let opts: { bundlePems: string[]; trustDomain: string; now: Date };

beforeAll(async () => {
  ca = await createCertificateAuthority({ trustDomain: TD });
  issuer = issuerOf(ca);
  // Same trust domain and same subject name as ours: only the key differs.
  stranger = await createCertificateAuthority({ trustDomain: TD, commonName: `Zen Mesh CA ${TD}` });
  opts = { bundlePems: [ca.certPem], trustDomain: TD, now: NOW };
});

describe('validateSvid accepts', () => {
  it('an SVID we issued, and reports its identity, dates, serial and anchor', async () => {
    const issued = await issueSvid({
      ca,
      spiffeId: backend,
      publicKeyPem: (await generateKeyPair()).publicKeyPem,
    });
    const result = validateSvid(issued.certPem, { ...opts, expectedSpiffeId: backend });
    expect(result.spiffeId).toBe(backend);
    expect(result.serial).toBe(issued.serial);
    expect(result.notAfter.getTime()).toBe(issued.notAfter.getTime());
    expect(result.notBefore.getTime()).toBe(new X509Certificate(issued.certPem).validFromDate.getTime());
    expect(result.issuerFingerprint).toBe(fingerprint(ca.certPem));
  });

  it('a crafted SVID with the valid profile (the control for the refusal table)', async () => {
    const { pem } = await craft(issuer);
    expect(validateSvid(pem, opts).spiffeId).toBe(backend);
  });

  it('an SVID without EKU (X509-SVID §4.4: SHOULD, not MUST) and with extra DNS SANs', async () => {
    const { pem } = await craft(issuer, { eku: null, dns: ['backend.internal'] });
    expect(validateSvid(pem, opts).spiffeId).toBe(backend);
  });

  it('an SVID that chains through an intermediate CA sent after the leaf', async () => {
    const mid = await craft(issuer, {
      uris: ['spiffe://zenmesh.local'],
      ca: true,
      keyUsage: F.keyCertSign | F.cRLSign,
      eku: null,
      subject: 'CN=Intermediate',
    });
    const midCert = new x509.X509Certificate(mid.pem);
    const midIssuer: Issuer = {
      name: midCert.subject,
      key: mid.keys.privateKey,
      keyId: midCert.getExtension(x509.SubjectKeyIdentifierExtension)?.keyId ?? '',
    };
    const { pem } = await craft(midIssuer);
    expect(codeOf(() => validateSvid(pem, opts))).toBe('ERR_SVID_UNTRUSTED');
    expect(validateSvid(`${pem}\n${mid.pem}`, opts).issuerFingerprint).toBe(fingerprint(ca.certPem));
  });

  it('SVIDs of the old and the new CA while the bundle carries both (rotation)', async () => {
    const next = await createCertificateAuthority({ trustDomain: TD });
    const bundle = { ...opts, bundlePems: [`${ca.certPem}\n${next.certPem}`] };
    const oldSvid = await issueSvidWithKey({ ca, spiffeId: backend });
    const newSvid = await issueSvidWithKey({ ca: next, spiffeId: backend });
    expect(validateSvid(oldSvid.certPem, bundle).issuerFingerprint).toBe(fingerprint(ca.certPem));
    expect(validateSvid(newSvid.certPem, bundle).issuerFingerprint).toBe(fingerprint(next.certPem));
    // Once the old CA leaves the bundle its SVIDs stop working.
    expect(codeOf(() => validateSvid(oldSvid.certPem, { ...opts, bundlePems: [next.certPem] }))).toBe(
      'ERR_SVID_UNTRUSTED',
    );
  });
});

describe('validateSvid refuses (X509-SVID §5)', () => {
  const table: Array<[string, () => Promise<string>, string]> = [
    ['no SAN at all', async () => (await craft(issuer, { uris: [] })).pem, 'ERR_SVID_NO_URI_SAN'],
    [
      'DNS SAN but no URI SAN',
      async () => (await craft(issuer, { uris: [], dns: ['x'] })).pem,
      'ERR_SVID_NO_URI_SAN',
    ],
    [
      'two URI SANs',
      async () => (await craft(issuer, { uris: [backend, spiffeIdFor('egress')] })).pem,
      'ERR_SVID_MULTIPLE_URI_SANS',
    ],
    [
      'a URI SAN that is not a SPIFFE ID',
      async () => (await craft(issuer, { uris: ['https://x/y'] })).pem,
      'ERR_SPIFFE_ID_INVALID',
    ],
    [
      'the bare trust domain ID, without a path (X509-SVID §5.2)',
      async () => (await craft(issuer, { uris: ['spiffe://zenmesh.local'] })).pem,
      'ERR_SVID_NO_PATH',
    ],
    ['CA=true on the leaf', async () => (await craft(issuer, { ca: true })).pem, 'ERR_SVID_CA_LEAF'],
    [
      'keyCertSign on the leaf',
      async () => (await craft(issuer, { keyUsage: F.digitalSignature | F.keyCertSign })).pem,
      'ERR_SVID_KEY_USAGE',
    ],
    [
      'cRLSign on the leaf',
      async () => (await craft(issuer, { keyUsage: F.digitalSignature | F.cRLSign })).pem,
      'ERR_SVID_KEY_USAGE',
    ],
    [
      'no keyUsage extension',
      async () => (await craft(issuer, { keyUsage: null })).pem,
      'ERR_SVID_KEY_USAGE',
    ],
    [
      'keyUsage not marked critical (X509-SVID §4.3)',
      async () =>
        (
          await craft(issuer, {
            keyUsage: null,
            extra: [new x509.KeyUsagesExtension(F.digitalSignature, false)],
          })
        ).pem,
      'ERR_SVID_KEY_USAGE',
    ],
    [
      'keyUsage without digitalSignature',
      async () => (await craft(issuer, { keyUsage: F.keyAgreement })).pem,
      'ERR_SVID_KEY_USAGE',
    ],
    [
      'EKU without clientAuth',
      async () => (await craft(issuer, { eku: [x509.ExtendedKeyUsage.serverAuth] })).pem,
      'ERR_SVID_EXT_KEY_USAGE',
    ],
    [
      'a SPIFFE ID of another trust domain',
      async () =>
        (await craft(issuer, { uris: [spiffeIdFor('backend', { trustDomain: 'evil.example' })] })).pem,
      'ERR_SVID_TRUST_DOMAIN',
    ],
    [
      'expired',
      async () =>
        (
          await craft(issuer, {
            notBefore: new Date(NOW.getTime() - 2 * HOUR),
            notAfter: new Date(NOW.getTime() - 1000),
          })
        ).pem,
      'ERR_SVID_EXPIRED',
    ],
    [
      'not yet valid',
      async () =>
        (
          await craft(issuer, {
            notBefore: new Date(NOW.getTime() + 1000),
            notAfter: new Date(NOW.getTime() + 2 * HOUR),
          })
        ).pem,
      'ERR_SVID_NOT_YET_VALID',
    ],
    [
      'signed by an unknown CA with our CA name',
      async () => (await craft(issuerOf(stranger))).pem,
      'ERR_SVID_UNTRUSTED',
    ],
    [
      'self-signed',
      async () => {
        const keys = (await crypto.subtle.generateKey(ALG, true, ['sign', 'verify'])) as CryptoKeyPair;
        return (await craft({ name: 'CN=self', key: keys.privateKey, keyId: '01' }, { subject: 'CN=self' }))
          .pem;
      },
      'ERR_SVID_UNTRUSTED',
    ],
    [
      'a tampered signature',
      async () => {
        const der = Buffer.from(new x509.X509Certificate((await craft(issuer)).pem).rawData);
        der[der.length - 3] = (der[der.length - 3] as number) ^ 0x01;
        return x509.PemConverter.encode(der, 'CERTIFICATE');
      },
      'ERR_SVID_UNTRUSTED',
    ],
    [
      'a chain through a leaf SVID posing as intermediate',
      async () => {
        const mid = await craft(issuer, { subject: 'CN=posing' });
        const midCert = new x509.X509Certificate(mid.pem);
        const posing: Issuer = {
          name: midCert.subject,
          key: mid.keys.privateKey,
          keyId: midCert.getExtension(x509.SubjectKeyIdentifierExtension)?.keyId ?? '',
        };
        return `${(await craft(posing)).pem}\n${mid.pem}`;
      },
      'ERR_SVID_UNTRUSTED',
    ],
    [
      'an unrecognised critical extension',
      async () =>
        (
          await craft(issuer, {
            extra: [new x509.Extension('1.3.6.1.4.1.99999.1', true, new Uint8Array([5, 0]))],
          })
        ).pem,
      'ERR_CERT_MALFORMED',
    ],
    ['text that is not PEM', async () => 'not a certificate', 'ERR_CERT_MALFORMED'],
  ];

  // The chain and the dates are validateSvid's alone; checkSvidProfile (the per-call guard's half) judges the rest.
  const CHAIN_OR_DATES = new Set(['ERR_SVID_EXPIRED', 'ERR_SVID_NOT_YET_VALID', 'ERR_SVID_UNTRUSTED']);
  it.each(table)('%s', async (_name, build, code) => {
    const pem = await build();
    expect(codeOf(() => validateSvid(pem, opts))).toBe(code);
    const profile = codeOf(() => checkSvidProfile(pem, { trustDomain: TD }));
    expect(profile).toBe(CHAIN_OR_DATES.has(code) ? undefined : code);
  });

  it('checkSvidProfile reports the validity window for the caller to judge against its clock', async () => {
    const issued = await issueSvidWithKey({ ca, spiffeId: backend, ttlSeconds: 600, now: NOW });
    const profile = checkSvidProfile(issued.certPem, { trustDomain: TD });
    expect(profile.notAfter.getTime()).toBe(issued.notAfter.getTime());
    expect(profile.notBefore.getTime()).toBe(NOW.getTime() - 300_000);
  });

  it('a valid SVID whose SPIFFE ID is not the expected one', async () => {
    const { pem } = await craft(issuer);
    expect(codeOf(() => validateSvid(pem, { ...opts, expectedSpiffeId: spiffeIdFor('egress') }))).toBe(
      'ERR_SVID_ID_MISMATCH',
    );
  });

  it('an SVID from our CA when the verifier expects another trust domain', async () => {
    const { pem } = await craft(issuer);
    expect(codeOf(() => validateSvid(pem, { ...opts, trustDomain: 'other.example' }))).toBe(
      'ERR_SVID_TRUST_DOMAIN',
    );
  });

  it('expiry with a frozen clock: valid one second before notAfter, expired one second after', async () => {
    const issued = await issueSvidWithKey({ ca, spiffeId: backend, ttlSeconds: 600, now: NOW });
    const before = new Date(issued.notAfter.getTime() - 1000);
    const after = new Date(issued.notAfter.getTime() + 1000);
    expect(validateSvid(issued.certPem, { ...opts, now: before }).spiffeId).toBe(backend);
    expect(codeOf(() => validateSvid(issued.certPem, { ...opts, now: after }))).toBe('ERR_SVID_EXPIRED');
  });

  it('an SVID whose bundle CA has itself expired', async () => {
    const shortCa = await createCertificateAuthority({ trustDomain: TD, ttlSeconds: 7200, now: NOW });
    const issued = await issueSvidWithKey({ ca: shortCa, spiffeId: backend, ttlSeconds: 3600, now: NOW });
    // The leaf is still valid at this instant only if the CA check is what refuses it.
    const late = new Date(NOW.getTime() + 2 * HOUR + 1000);
    const leafStillOk = await craft(issuerOf(shortCa), { notAfter: new Date(NOW.getTime() + 3 * HOUR) });
    expect(
      codeOf(() => validateSvid(leafStillOk.pem, { ...opts, bundlePems: [shortCa.certPem], now: late })),
    ).toBe('ERR_SVID_UNTRUSTED');
    expect(validateSvid(issued.certPem, { ...opts, bundlePems: [shortCa.certPem] }).spiffeId).toBe(backend);
  });

  it('with an empty bundle', async () => {
    const { pem } = await craft(issuer);
    expect(codeOf(() => validateSvid(pem, { ...opts, bundlePems: [] }))).toBe('ERR_SVID_UNTRUSTED');
  });
});

describe('spiffeIdFromCertificate', () => {
  it('reads the ID from a PEM, from a DER `raw`, and from Node subjectaltname text', async () => {
    const { pem } = await craft(issuer, { dns: ['localhost'] });
    const node = new X509Certificate(pem);
    expect(spiffeIdFromCertificate(pem)).toBe(backend);
    expect(spiffeIdFromCertificate({ raw: node.raw })).toBe(backend);
    expect(spiffeIdFromCertificate({ subjectaltname: node.subjectAltName ?? '' })).toBe(backend);
    expect(spiffeIdFromCertificate({ subjectaltname: `DNS:a, URI:${backend}, IP Address:127.0.0.1` })).toBe(
      backend,
    );
  });

  it('refuses zero or several URI SANs and a URI that is not a SPIFFE ID', async () => {
    const two = (await craft(issuer, { uris: [backend, spiffeIdFor('egress')] })).pem;
    expect(codeOf(() => spiffeIdFromCertificate(two))).toBe('ERR_SVID_MULTIPLE_URI_SANS');
    expect(codeOf(() => spiffeIdFromCertificate({ subjectaltname: `URI:${backend}, URI:${backend}` }))).toBe(
      'ERR_SVID_MULTIPLE_URI_SANS',
    );
    expect(codeOf(() => spiffeIdFromCertificate({ subjectaltname: 'DNS:localhost' }))).toBe(
      'ERR_SVID_NO_URI_SAN',
    );
    expect(codeOf(() => spiffeIdFromCertificate({}))).toBe('ERR_SVID_NO_URI_SAN');
    expect(codeOf(() => spiffeIdFromCertificate(null))).toBe('ERR_SVID_NO_URI_SAN');
    expect(codeOf(() => spiffeIdFromCertificate({ subjectaltname: 'URI:https://example.com/' }))).toBe(
      'ERR_SPIFFE_ID_INVALID',
    );
    // Node JSON-quotes values with separators (CVE-2021-44532); the quoted value is read whole, not split.
    expect(
      codeOf(() =>
        spiffeIdFromCertificate({ subjectaltname: `URI:"spiffe://zenmesh.local/a, URI:spiffe://x/y"` }),
      ),
    ).toBe('ERR_SPIFFE_ID_INVALID');
    expect(codeOf(() => spiffeIdFromCertificate('garbage'))).toBe('ERR_CERT_MALFORMED');
  });
});

describe('fingerprint', () => {
  it('is the SHA-256 of the DER, lower-case hex, matching Node and OpenSSL', () => {
    const expected = new X509Certificate(ca.certPem).fingerprint256.replaceAll(':', '').toLowerCase();
    expect(fingerprint(ca.certPem)).toBe(expected);
    expect(fingerprint(ca.certPem)).toMatch(/^[0-9a-f]{64}$/);
    expect(codeOf(() => fingerprint('nope'))).toBe('ERR_CERT_MALFORMED');
  });
});
