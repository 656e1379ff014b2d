// X.509 issuance: node-forge (pure JS, RSA only) against @peculiar/x509 over Node's WebCrypto (OpenSSL), for
// docs/decisions/0001. node-forge cannot make ECDSA certificates, so the like-for-like row is RSA-2048 on both;
// the row we ship is @peculiar/x509 ECDSA P-256 through @zenmesh/pki. Run after `pnpm build`.
import { generateKeyPairSync } from 'node:crypto';
import { createRequire } from 'node:module';
import { createCertificateAuthority, generateKeyPair, issueSvid, spiffeIdFor } from '@zenmesh/pki';
import { percentile, progress, writeSection } from './lib/report.mjs';

// Both libraries are dependencies of @zenmesh/pki (forge as a dev dependency, for this measurement only).
const fromPki = createRequire(new URL('../packages/pki/package.json', import.meta.url));
const forge = fromPki('node-forge');
const x509 = await import(fromPki.resolve('@peculiar/x509'));
x509.cryptoProvider.set(globalThis.crypto);

const N = 200;
const spiffeId = spiffeIdFor('backend');
const rows = [];

async function measure(name, count, fn) {
  for (let i = 0; i < 5; i++) await fn(); // warm-up
  const times = [];
  const start = performance.now();
  for (let i = 0; i < count; i++) {
    const t = performance.now();
    await fn();
    times.push(performance.now() - t);
  }
  const total = performance.now() - start;
  rows.push({ name, count, total, p50: percentile(times, 50), p99: percentile(times, 99) });
  progress(`${name}: ${(total / count).toFixed(2)} ms each`);
}

// --- node-forge, RSA-2048 CA signing an RSA-2048 leaf with the SVID extensions.
const forgeCaKeys = forge.pki.rsa.generateKeyPair({ bits: 2048 });
const forgeCa = forge.pki.createCertificate();
forgeCa.publicKey = forgeCaKeys.publicKey;
forgeCa.serialNumber = '01';
forgeCa.validity.notBefore = new Date();
forgeCa.validity.notAfter = new Date(Date.now() + 365 * 864e5);
forgeCa.setSubject([{ name: 'commonName', value: 'forge CA' }]);
forgeCa.setIssuer([{ name: 'commonName', value: 'forge CA' }]);
forgeCa.setExtensions([
  { name: 'basicConstraints', cA: true, critical: true },
  { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true },
]);
forgeCa.sign(forgeCaKeys.privateKey, forge.md.sha256.create());
const forgeLeafKey = forge.pki.rsa.generateKeyPair({ bits: 2048 }).publicKey;
let serial = 2;
await measure('node-forge: issue RSA-2048 leaf (RSA-2048 CA)', N, () => {
  const cert = forge.pki.createCertificate();
  cert.publicKey = forgeLeafKey;
  cert.serialNumber = (serial++).toString(16).padStart(2, '0');
  cert.validity.notBefore = new Date();
  cert.validity.notAfter = new Date(Date.now() + 3600e3);
  cert.setSubject([{ name: 'commonName', value: 'backend' }]);
  cert.setIssuer(forgeCa.subject.attributes);
  cert.setExtensions([
    { name: 'basicConstraints', cA: false, critical: true },
    { name: 'keyUsage', digitalSignature: true, critical: true },
    { name: 'extKeyUsage', serverAuth: true, clientAuth: true },
    { name: 'subjectAltName', altNames: [{ type: 6, value: spiffeId }] },
  ]);
  cert.sign(forgeCaKeys.privateKey, forge.md.sha256.create());
  return forge.pki.certificateToPem(cert);
});

// --- @peculiar/x509 over WebCrypto, RSA-2048 (like for like).
const rsaAlg = {
  name: 'RSASSA-PKCS1-v1_5',
  hash: 'SHA-256',
  publicExponent: new Uint8Array([1, 0, 1]),
  modulusLength: 2048,
};
const rsaCa = await crypto.subtle.generateKey(rsaAlg, true, ['sign', 'verify']);
const rsaLeaf = await crypto.subtle.generateKey(rsaAlg, true, ['sign', 'verify']);
await measure('@peculiar/x509: issue RSA-2048 leaf (RSA-2048 CA)', N, () =>
  x509.X509CertificateGenerator.create({
    serialNumber: (serial++).toString(16).padStart(2, '0'),
    subject: 'CN=backend',
    issuer: 'CN=webcrypto CA',
    notBefore: new Date(),
    notAfter: new Date(Date.now() + 3600e3),
    publicKey: rsaLeaf.publicKey,
    signingKey: rsaCa.privateKey,
    signingAlgorithm: rsaAlg,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([
        x509.ExtendedKeyUsage.serverAuth,
        x509.ExtendedKeyUsage.clientAuth,
      ]),
      new x509.SubjectAlternativeNameExtension([{ type: 'url', value: spiffeId }]),
    ],
  }),
);

// --- What we ship: @zenmesh/pki issueSvid, ECDSA P-256 (full SVID profile incl. key identifiers).
const ca = await createCertificateAuthority({ trustDomain: 'zenmesh.local' });
const leaf = await generateKeyPair();
await measure('@zenmesh/pki (@peculiar/x509): issue ECDSA P-256 SVID', N, () =>
  issueSvid({ ca, spiffeId, publicKeyPem: leaf.publicKeyPem }),
);

// --- Key generation, which the workload does once per renewal.
await measure('node-forge: generate RSA-2048 key pair', 10, () =>
  forge.pki.rsa.generateKeyPair({ bits: 2048 }),
);
await measure('node:crypto: generate RSA-2048 key pair', 20, () =>
  generateKeyPairSync('rsa', { modulusLength: 2048 }),
);
await measure('node:crypto: generate ECDSA P-256 key pair', N, () => generateKeyPair());

const table = [
  '| operation | n | mean | p50 | p99 |',
  '|---|---|---|---|---|',
  ...rows.map(
    (r) =>
      `| ${r.name} | ${r.count} | ${(r.total / r.count).toFixed(2)} ms | ${r.p50.toFixed(2)} ms | ${r.p99.toFixed(2)} ms |`,
  ),
].join('\n');
writeSection(
  'pki',
  'X.509 issuance: node-forge vs @peculiar/x509 (WebCrypto)',
  `One certificate at a time on one core, after 5 warm-up rounds. node-forge cannot issue ECDSA certificates, so it is
compared on RSA-2048; our SVIDs are ECDSA P-256 (last issuance row). See docs/decisions/0001-x509-library.md.

${table}`,
);
console.log(table);
