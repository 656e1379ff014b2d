// OpenSSL is the independent judge: our certificates must read and verify the same way there.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CertificateAuthority, createCertificateAuthority } from './ca.js';
import { createCsr } from './csr.js';
import { generateKeyPair } from './keys.js';
import { spiffeIdFor } from './spiffe-id.js';
import { issueSvid } from './svid-issue.js';

const dir = mkdtempSync(join(tmpdir(), 'zenmesh-pki-openssl-'));
const file = (name: string, text: string): string => {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
};
const openssl = (...args: string[]) => spawnSync('openssl', args, { encoding: 'utf8' });
const text = (path: string) =>
  execFileSync('openssl', ['x509', '-text', '-noout', '-in', path], { encoding: 'utf8' });

let ca: CertificateAuthority;
let caPath: string;
let leafPath: string;
const backend = spiffeIdFor('backend');

beforeAll(async () => {
  ca = await createCertificateAuthority({ trustDomain: 'zenmesh.local' });
  caPath = file('ca.pem', ca.certPem);
  const keyPair = await generateKeyPair();
  const csrPem = await createCsr({ spiffeId: backend, keyPair });
  file('req.pem', csrPem);
  leafPath = file('leaf.pem', (await issueSvid({ ca, spiffeId: backend, csrPem })).certPem);
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('openssl', () => {
  it('verifies the leaf against the CA, strictly, for both TLS purposes', () => {
    for (const purpose of ['sslserver', 'sslclient']) {
      const r = openssl('verify', '-x509_strict', '-purpose', purpose, '-CAfile', caPath, leafPath);
      expect(r.stdout.trim()).toBe(`${leafPath}: OK`);
      expect(r.status).toBe(0);
    }
  });

  it('refuses the leaf against another CA', async () => {
    const other = await createCertificateAuthority({ trustDomain: 'zenmesh.local' });
    const r = openssl('verify', '-CAfile', file('other.pem', other.certPem), leafPath);
    expect(r.status).not.toBe(0);
  });

  it('shows the X509-SVID profile on the leaf', () => {
    const out = text(leafPath);
    expect(out).toMatch(
      /X509v3 Subject Alternative Name: ?\n\s+URI:spiffe:\/\/zenmesh\.local\/ns\/zenmesh\/sa\/backend\n/,
    );
    expect(out).toMatch(/X509v3 Basic Constraints: critical\n\s+CA:FALSE\n/);
    expect(out).toMatch(/X509v3 Key Usage: critical\n\s+Digital Signature\n/);
    expect(out).toMatch(
      /X509v3 Extended Key Usage: ?\n\s+TLS Web Server Authentication, TLS Web Client Authentication\n/,
    );
    expect(out).toContain('X509v3 Subject Key Identifier');
    expect(out).toContain('X509v3 Authority Key Identifier');
    expect(out).toContain('Signature Algorithm: ecdsa-with-SHA256');
    expect(out).toContain('ASN1 OID: prime256v1');
  });

  it('shows the signing-certificate profile on the CA', () => {
    const out = text(caPath);
    expect(out).toMatch(/X509v3 Basic Constraints: critical\n\s+CA:TRUE\n/);
    expect(out).toMatch(/X509v3 Key Usage: critical\n\s+Certificate Sign, CRL Sign\n/);
    expect(out).toMatch(/URI:spiffe:\/\/zenmesh\.local\n/);
    const r = openssl('verify', '-x509_strict', '-CAfile', caPath, caPath);
    expect(r.status).toBe(0);
  });

  it('reads our CSR, checks its self-signature and sees the requested URI SAN', () => {
    const r = openssl('req', '-in', join(dir, 'req.pem'), '-noout', '-verify', '-text');
    expect(r.status).toBe(0);
    expect(`${r.stdout}${r.stderr}`).toMatch(/verify OK/);
    expect(r.stdout).toContain(`URI:${backend}`);
  });
});
