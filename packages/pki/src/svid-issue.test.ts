import { X509Certificate } from 'node:crypto';
import * as x509 from '@peculiar/x509';
import { beforeAll, describe, expect, it } from 'vitest';
import { type CertificateAuthority, createCertificateAuthority } from './ca.js';
import { createCsr } from './csr.js';
import { PkiError } from './errors.js';
import { generateKeyPair, type KeyPairPem } from './keys.js';
import { spiffeIdFor } from './spiffe-id.js';
import { issueSvid, issueSvidWithKey } from './svid-issue.js';

const TD = 'zenmesh.local';
// Whole seconds, because X.509 times carry no milliseconds; the CA is created at this instant.
const NOW = new Date(Math.floor(Date.now() / 1000) * 1000);

async function codeOf(p: Promise<unknown>): Promise<string | undefined> {
  try {
    await p;
  } catch (err) {
    return err instanceof PkiError ? err.code : `not a PkiError: ${String(err)}`;
  }
  return undefined;
}

function uriSans(cert: x509.X509Certificate): string[] {
  const san = cert.getExtension(x509.SubjectAlternativeNameExtension);
  return san ? san.names.items.filter((n) => n.type === 'url').map((n) => n.value) : [];
}

let ca: CertificateAuthority;
let keyPair: KeyPairPem;
const backend = spiffeIdFor('backend');

beforeAll(async () => {
  ca = await createCertificateAuthority({ trustDomain: TD, now: NOW });
  keyPair = await generateKeyPair();
});

describe('createCertificateAuthority', () => {
  it('makes a self-signed P-256 root with the X509-SVID signing-certificate profile', async () => {
    const cert = new x509.X509Certificate(ca.certPem);
    expect(await cert.verify({ signatureOnly: true })).toBe(true);
    expect(cert.subject).toBe(cert.issuer);
    expect(cert.publicKey.algorithm).toMatchObject({ name: 'ECDSA', namedCurve: 'P-256' });
    const bc = cert.getExtension(x509.BasicConstraintsExtension);
    expect(bc?.ca).toBe(true);
    expect(bc?.critical).toBe(true);
    const ku = cert.getExtension(x509.KeyUsagesExtension);
    expect(ku?.critical).toBe(true);
    expect(ku?.usages).toBe(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign);
    expect(uriSans(cert)).toEqual(['spiffe://zenmesh.local']);
    const ski = cert.getExtension(x509.SubjectKeyIdentifierExtension);
    const aki = cert.getExtension(x509.AuthorityKeyIdentifierExtension);
    expect(ski?.keyId).toMatch(/^[0-9a-f]{40}$/);
    expect(aki?.keyId).toBe(ski?.keyId);
    expect(ca.trustDomain).toBe(TD);
    expect(ca.keyPem).toContain('-----BEGIN PRIVATE KEY-----');
  });

  it('uses a random positive 16-byte serial', async () => {
    const other = await createCertificateAuthority({ trustDomain: TD });
    const a = new X509Certificate(ca.certPem).serialNumber;
    const b = new X509Certificate(other.certPem).serialNumber;
    expect(a).toMatch(/^[0-7][0-9A-F]{31}$/);
    expect(a).not.toBe(b);
  });

  it('defaults to one year and honours ttlSeconds and commonName', async () => {
    const cert = new X509Certificate(ca.certPem);
    expect(cert.validToDate.getTime()).toBe(NOW.getTime() + 365 * 24 * 3600 * 1000);
    const short = await createCertificateAuthority({
      trustDomain: TD,
      ttlSeconds: 7200,
      now: NOW,
      commonName: 'Gen 2',
    });
    const s = new X509Certificate(short.certPem);
    expect(s.validToDate.getTime()).toBe(NOW.getTime() + 7200 * 1000);
    expect(s.subject).toContain('CN=Gen 2');
  });

  it('refuses a bad trust domain and a bad TTL', async () => {
    expect(await codeOf(createCertificateAuthority({ trustDomain: 'Not Valid' }))).toBe(
      'ERR_TRUST_DOMAIN_INVALID',
    );
    await expect(createCertificateAuthority({ trustDomain: TD, ttlSeconds: 0 })).rejects.toThrow(TypeError);
  });
});

describe('issueSvid', () => {
  it('issues an X509-SVID with exactly the required profile', async () => {
    const issued = await issueSvid({ ca, spiffeId: backend, publicKeyPem: keyPair.publicKeyPem, now: NOW });
    const cert = new x509.X509Certificate(issued.certPem);
    const caCert = new x509.X509Certificate(ca.certPem);
    expect(await cert.verify({ publicKey: caCert.publicKey, signatureOnly: true })).toBe(true);
    expect(uriSans(cert)).toEqual([backend]);
    const bc = cert.getExtension(x509.BasicConstraintsExtension);
    expect(bc?.ca).toBe(false);
    expect(bc?.critical).toBe(true);
    const ku = cert.getExtension(x509.KeyUsagesExtension);
    expect(ku?.critical).toBe(true);
    expect(ku?.usages).toBe(x509.KeyUsageFlags.digitalSignature);
    const eku = cert.getExtension(x509.ExtendedKeyUsageExtension);
    expect(eku?.usages).toEqual([x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth]);
    const aki = cert.getExtension(x509.AuthorityKeyIdentifierExtension);
    expect(aki?.keyId).toBe(caCert.getExtension(x509.SubjectKeyIdentifierExtension)?.keyId);
    expect(cert.getExtension(x509.SubjectKeyIdentifierExtension)?.keyId).toMatch(/^[0-9a-f]{40}$/);
    expect(cert.issuer).toBe(caCert.subject);
    // The certified key is the one we were given.
    const spki = new X509Certificate(issued.certPem).publicKey.export({ type: 'spki', format: 'pem' });
    expect(spki).toBe(keyPair.publicKeyPem);
    expect(issued.serial).toBe(cert.serialNumber);
    expect(issued.serial).toMatch(/^[0-7][0-9a-f]{31}$/);
  });

  it('defaults to a 3600 s TTL with notBefore 300 s (the HMAC window) in the past', async () => {
    const issued = await issueSvid({ ca, spiffeId: backend, publicKeyPem: keyPair.publicKeyPem, now: NOW });
    const cert = new X509Certificate(issued.certPem);
    expect(cert.validFromDate.getTime()).toBe(NOW.getTime() - 300_000);
    expect(cert.validToDate.getTime()).toBe(NOW.getTime() + 3600_000);
    expect(issued.notAfter.getTime()).toBe(NOW.getTime() + 3600_000);
  });

  it('honours ttlSeconds but never outlives the CA', async () => {
    const a = await issueSvid({
      ca,
      spiffeId: backend,
      publicKeyPem: keyPair.publicKeyPem,
      now: NOW,
      ttlSeconds: 600,
    });
    expect(a.notAfter.getTime()).toBe(NOW.getTime() + 600_000);
    const b = await issueSvid({
      ca,
      spiffeId: backend,
      publicKeyPem: keyPair.publicKeyPem,
      now: NOW,
      ttlSeconds: 10 * 365 * 24 * 3600,
    });
    expect(b.notAfter.getTime()).toBe(new X509Certificate(ca.certPem).validToDate.getTime());
  });

  it('adds DNS SANs next to the one URI SAN', async () => {
    const issued = await issueSvid({
      ca,
      spiffeId: backend,
      publicKeyPem: keyPair.publicKeyPem,
      now: NOW,
      dnsNames: ['backend.internal', 'localhost'],
    });
    expect(new X509Certificate(issued.certPem).subjectAltName).toBe(
      `URI:${backend}, DNS:backend.internal, DNS:localhost`,
    );
    await expect(
      issueSvid({ ca, spiffeId: backend, publicKeyPem: keyPair.publicKeyPem, dnsNames: ['bad name'] }),
    ).rejects.toThrow(TypeError);
  });

  it('gives every SVID a fresh serial', async () => {
    const serials = new Set<string>();
    for (let i = 0; i < 5; i++) {
      serials.add((await issueSvid({ ca, spiffeId: backend, publicKeyPem: keyPair.publicKeyPem })).serial);
    }
    expect(serials.size).toBe(5);
  });

  it('refuses a SPIFFE ID outside the CA trust domain', async () => {
    const foreign = spiffeIdFor('backend', { trustDomain: 'evil.example' });
    expect(await codeOf(issueSvid({ ca, spiffeId: foreign, publicKeyPem: keyPair.publicKeyPem }))).toBe(
      'ERR_TRUST_DOMAIN_MISMATCH',
    );
  });

  it('refuses an invalid SPIFFE ID and the bare trust-domain ID', async () => {
    const opts = { ca, publicKeyPem: keyPair.publicKeyPem };
    expect(await codeOf(issueSvid({ ...opts, spiffeId: 'spiffe://zenmesh.local/a/../b' }))).toBe(
      'ERR_SPIFFE_ID_INVALID',
    );
    expect(await codeOf(issueSvid({ ...opts, spiffeId: 'spiffe://zenmesh.local' }))).toBe(
      'ERR_SPIFFE_ID_INVALID',
    );
  });

  it('refuses to issue when the CA is not valid at `now`', async () => {
    const later = new Date(NOW.getTime() + 2 * 365 * 24 * 3600 * 1000);
    expect(
      await codeOf(issueSvid({ ca, spiffeId: backend, publicKeyPem: keyPair.publicKeyPem, now: later })),
    ).toBe('ERR_CA_INVALID');
  });

  it('refuses a CA whose key does not match its certificate, or that is not a CA', async () => {
    const other = await createCertificateAuthority({ trustDomain: TD });
    const mixed = { ...ca, keyPem: other.keyPem };
    expect(
      await codeOf(issueSvid({ ca: mixed, spiffeId: backend, publicKeyPem: keyPair.publicKeyPem })),
    ).toBe('ERR_CA_INVALID');
    const leaf = await issueSvidWithKey({ ca, spiffeId: backend });
    const fakeCa = { certPem: leaf.certPem, keyPem: leaf.keyPem, trustDomain: TD };
    expect(
      await codeOf(issueSvid({ ca: fakeCa, spiffeId: backend, publicKeyPem: keyPair.publicKeyPem })),
    ).toBe('ERR_CA_INVALID');
  });

  it('refuses a public key that is not PEM, and misuse of csrPem/publicKeyPem', async () => {
    expect(await codeOf(issueSvid({ ca, spiffeId: backend, publicKeyPem: 'nope' }))).toBe('ERR_KEY_INVALID');
    await expect(issueSvid({ ca, spiffeId: backend })).rejects.toThrow(TypeError);
    const csrPem = await createCsr({ spiffeId: backend, keyPair });
    await expect(
      issueSvid({ ca, spiffeId: backend, csrPem, publicKeyPem: keyPair.publicKeyPem }),
    ).rejects.toThrow(TypeError);
  });
});

describe('issueSvid from a CSR', () => {
  it('certifies the CSR key for the requested SPIFFE ID', async () => {
    const csrPem = await createCsr({ spiffeId: backend, keyPair });
    const issued = await issueSvid({ ca, spiffeId: backend, csrPem, now: NOW });
    const cert = new X509Certificate(issued.certPem);
    expect(cert.publicKey.export({ type: 'spki', format: 'pem' })).toBe(keyPair.publicKeyPem);
    expect(cert.subjectAltName).toBe(`URI:${backend}`);
  });

  it('refuses a CSR that asks for a different SPIFFE ID', async () => {
    const csrPem = await createCsr({ spiffeId: spiffeIdFor('egress'), keyPair });
    expect(await codeOf(issueSvid({ ca, spiffeId: backend, csrPem }))).toBe('ERR_CSR_MISMATCH');
  });

  it('refuses a CSR with no URI SAN or with two', async () => {
    const keys = await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, [
      'sign',
      'verify',
    ]);
    const make = (uris: string[]) =>
      x509.Pkcs10CertificateRequestGenerator.create({
        name: 'CN=x',
        keys,
        signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' },
        extensions: uris.length
          ? [new x509.SubjectAlternativeNameExtension(uris.map((value) => ({ type: 'url' as const, value })))]
          : [],
      });
    const none = (await make([])).toString('pem');
    const two = (await make([backend, spiffeIdFor('egress')])).toString('pem');
    expect(await codeOf(issueSvid({ ca, spiffeId: backend, csrPem: none }))).toBe('ERR_CSR_MISMATCH');
    expect(await codeOf(issueSvid({ ca, spiffeId: backend, csrPem: two }))).toBe('ERR_CSR_MISMATCH');
  });

  it('refuses a CSR whose signature does not verify', async () => {
    const csrPem = await createCsr({ spiffeId: backend, keyPair });
    const der = Buffer.from(new x509.Pkcs10CertificateRequest(csrPem).rawData);
    // Flip one bit inside the signature value (the last bytes of the DER).
    der[der.length - 5] = (der[der.length - 5] as number) ^ 0x01;
    const tampered = x509.PemConverter.encode(der, 'CERTIFICATE REQUEST');
    expect(await codeOf(issueSvid({ ca, spiffeId: backend, csrPem: tampered }))).toBe('ERR_CSR_INVALID');
  });

  it('refuses a CSR whose requested identity was swapped after signing', async () => {
    // Same key signs a CSR for egress; we graft that CSR's signature onto one for backend: proof of
    // possession then fails because the signature covers the requested SAN.
    const good = new x509.Pkcs10CertificateRequest(
      await createCsr({ spiffeId: spiffeIdFor('egress'), keyPair }),
    );
    const forged = Buffer.from(good.rawData).toString('latin1').replace('/sa/egress', '/sa/bckend');
    const pem = x509.PemConverter.encode(Buffer.from(forged, 'latin1'), 'CERTIFICATE REQUEST');
    expect(
      await codeOf(issueSvid({ ca, spiffeId: 'spiffe://zenmesh.local/ns/zenmesh/sa/bckend', csrPem: pem })),
    ).toBe('ERR_CSR_INVALID');
  });

  it('refuses a CSR that is not PEM', async () => {
    expect(await codeOf(issueSvid({ ca, spiffeId: backend, csrPem: 'garbage' }))).toBe('ERR_CSR_INVALID');
  });

  it('createCsr refuses a key pair whose halves do not match', async () => {
    const other = await generateKeyPair();
    expect(
      await codeOf(
        createCsr({ spiffeId: backend, keyPair: { ...keyPair, publicKeyPem: other.publicKeyPem } }),
      ),
    ).toBe('ERR_KEY_INVALID');
    expect(await codeOf(createCsr({ spiffeId: 'spiffe://x/', keyPair }))).toBe('ERR_SPIFFE_ID_INVALID');
  });
});

describe('issueSvidWithKey', () => {
  it('returns a matching PKCS#8 key and certificate', async () => {
    const issued = await issueSvidWithKey({ ca, spiffeId: backend, now: NOW, ttlSeconds: 120 });
    expect(issued.keyPem).toContain('-----BEGIN PRIVATE KEY-----');
    const cert = new X509Certificate(issued.certPem);
    const { createPrivateKey } = await import('node:crypto');
    expect(cert.checkPrivateKey(createPrivateKey(issued.keyPem))).toBe(true);
    expect(issued.notAfter.getTime()).toBe(NOW.getTime() + 120_000);
  });
});
