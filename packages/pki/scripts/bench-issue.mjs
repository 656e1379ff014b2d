// Rough timing of SVID issuance with @peculiar/x509 over Node WebCrypto (run after `build`).
// Not a test: numbers depend on the machine. Usage: node scripts/bench-issue.mjs [count]
import { performance } from 'node:perf_hooks';
import { createCertificateAuthority, generateKeyPair, issueSvid, spiffeIdFor } from '../dist/index.js';

const count = Number(process.argv[2] ?? 200);
const ca = await createCertificateAuthority({ trustDomain: 'zenmesh.local' });
const keyPair = await generateKeyPair();
const spiffeId = spiffeIdFor('bench');
await issueSvid({ ca, spiffeId, publicKeyPem: keyPair.publicKeyPem }); // warm-up

let start = performance.now();
for (let i = 0; i < count; i++) await issueSvid({ ca, spiffeId, publicKeyPem: keyPair.publicKeyPem });
const sequential = performance.now() - start;

start = performance.now();
await Promise.all(
  Array.from({ length: count }, () => issueSvid({ ca, spiffeId, publicKeyPem: keyPair.publicKeyPem })),
);
const concurrent = performance.now() - start;

const keysStart = performance.now();
for (let i = 0; i < count; i++) await generateKeyPair();
const keygen = performance.now() - keysStart;

console.log(
  `${count} SVIDs: sequential ${sequential.toFixed(0)} ms (${(sequential / count).toFixed(2)} ms each), ` +
    `concurrent ${concurrent.toFixed(0)} ms; ${count} P-256 key pairs: ${keygen.toFixed(0)} ms`,
);
