// Property tests (fast-check, fixed seed) for the CSR a join or renewal carries (RFC 2986). Whatever arrives,
// readVerifiedCsr answers with the verified request or ERR_CSR_INVALID — never another exception, which the
// CA's join listener would turn into a 500 — and it accepts exactly the P-256 requests that OpenSSL (the
// independent judge) signs for the SPIFFE ID asked for.
import { execFileSync } from 'node:child_process';
import type { webcrypto } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCsr, readVerifiedCsr } from './csr.js';
import { PkiError } from './errors.js';
import { generateKeyPair, type KeyPairPem } from './keys.js';
import { spiffeIdFor } from './spiffe-id.js';
import { OID, x509 } from './x509-provider.js';

const SEED = 0x5eed_c5a1;
const ALG = { name: 'ECDSA', namedCurve: 'P-256' } as const;
const SIG = { name: 'ECDSA', hash: 'SHA-256' } as const;
const backend = spiffeIdFor('backend');
const dir = mkdtempSync(join(tmpdir(), 'zenmesh-pki-csr-'));

let keyPair: KeyPairPem;
let genuine: string;
let genuineDer: Buffer;
let keys: webcrypto.CryptoKeyPair;

beforeAll(async () => {
  keyPair = await generateKeyPair();
  genuine = await createCsr({ spiffeId: backend, keyPair });
  genuineDer = Buffer.from(new x509.Pkcs10CertificateRequest(genuine).rawData);
  keys = (await crypto.subtle.generateKey(ALG, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

type Outcome = { refused: string } | { uriSans: string[]; spki: string };
async function outcome(pem: string): Promise<Outcome> {
  try {
    const r = await readVerifiedCsr(pem);
    return { uriSans: r.uriSans, spki: Buffer.from(r.spki).toString('hex') };
  } catch (err) {
    if (err instanceof PkiError) return { refused: err.code };
    throw new Error(`not a PkiError: ${String(err)}`);
  }
}
const pemOf = (der: Uint8Array) => x509.PemConverter.encode(der, 'CERTIFICATE REQUEST');

describe('readVerifiedCsr under arbitrary input', () => {
  it('refuses arbitrary text and arbitrary DER inside a PEM armour as ERR_CSR_INVALID', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc.string(),
          fc.uint8Array({ maxLength: 400 }).map(pemOf),
          // A DER SEQUENCE header over random bytes gets the decoder further.
          fc
            .uint8Array({ maxLength: 300 })
            .map((b) => pemOf(Buffer.concat([Buffer.from([0x30, 0x82, 0x01, b.length & 0xff]), b]))),
        ),
        async (text) => {
          expect(await outcome(text)).toEqual({ refused: 'ERR_CSR_INVALID' });
        },
      ),
      { seed: SEED, numRuns: 300 },
    );
  });

  it('refuses a genuine request with any byte changed, or yields exactly the same request', async () => {
    const original = await outcome(genuine);
    await fc.assert(
      fc.asyncProperty(fc.nat({ max: 10_000 }), fc.integer({ min: 1, max: 255 }), async (at, xor) => {
        const der = Buffer.from(genuineDer);
        const i = at % der.length;
        der[i] = (der[i] as number) ^ xor;
        const r = await outcome(pemOf(der));
        if ('refused' in r) expect(r.refused).toBe('ERR_CSR_INVALID');
        else expect(r).toEqual(original);
      }),
      { seed: SEED, numRuns: 300 },
    );
  });

  it('refuses (never crashes on) a correctly signed request whose subjectAltName is any byte string', async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 80 }), async (bytes) => {
        const csr = await x509.Pkcs10CertificateRequestGenerator.create({
          name: 'CN=x',
          keys,
          signingAlgorithm: SIG,
          extensions: [new x509.Extension(OID.subjectAltName, false, bytes)],
        });
        const r = await outcome(csr.toString('pem'));
        // Either the bytes happen to decode as GeneralNames (then the CA compares the URI SANs with the
        // token's ID), or the request is refused as invalid; nothing else.
        if ('refused' in r) expect(r.refused).toBe('ERR_CSR_INVALID');
        else expect(Array.isArray(r.uriSans)).toBe(true);
      }),
      { seed: SEED, numRuns: 200 },
    );
  });
});

describe('readVerifiedCsr and OpenSSL', () => {
  const openssl = (args: string[]) =>
    execFileSync('openssl', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  const csrFor = (keyPath: string, san: string) =>
    openssl(['req', '-new', '-key', keyPath, '-subj', '/CN=w', '-addext', `subjectAltName=${san}`]);

  it('accepts what openssl signs for a P-256 key, with exactly the URI SANs it asked for', async () => {
    const keyPath = join(dir, 'p256.key');
    writeFileSync(keyPath, keyPair.privateKeyPem, { mode: 0o600 });
    const segment = fc.string({
      unit: fc.constantFrom(...'abcdefghijklmnopqrstuvwxyz0123456789-'.split('')),
      minLength: 1,
      maxLength: 12,
    });
    await fc.assert(
      fc.asyncProperty(segment, fc.boolean(), async (service, withDns) => {
        const id = spiffeIdFor(service);
        const r = await outcome(csrFor(keyPath, `${withDns ? 'DNS:w.internal,' : ''}URI:${id}`));
        expect(r).toMatchObject({ uriSans: [id] });
      }),
      { seed: SEED, numRuns: 15 },
    );
  });

  it.each([
    ['RSA 2048', ['genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048']],
    ['ECDSA P-384', ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-384']],
    ['Ed25519', ['genpkey', '-algorithm', 'ED25519']],
  ])('refuses a correctly signed request for a %s key (mesh keys are P-256)', async (name, args) => {
    const keyPath = join(dir, `${name.replaceAll(' ', '-')}.key`);
    writeFileSync(keyPath, openssl(args), { mode: 0o600 });
    await expect(readVerifiedCsr(csrFor(keyPath, `URI:${backend}`))).rejects.toMatchObject({
      code: 'ERR_CSR_INVALID',
      message: 'CSR key must be ECDSA P-256',
    });
  });
});
