import { randomBytes } from 'node:crypto';
import { CLOCK_SKEW_TOLERANCE_MS } from './clock-skew.js';
import { ECDSA_P256, ECDSA_SHA256 } from './keys.js';
import { assertTrustDomain, trustDomainId } from './spiffe-id.js';
import { x509 } from './x509-provider.js';

export interface CertificateAuthority {
  certPem: string;
  keyPem: string;
  trustDomain: string;
}

export interface CreateCertificateAuthorityOptions {
  trustDomain: string;
  commonName?: string;
  ttlSeconds?: number;
  now?: Date;
}

const DEFAULT_CA_TTL_SECONDS = 365 * 24 * 3600;

/**
 * A random, positive, 16-byte serial (RFC 5280 §4.1.2.2: positive, at most 20 octets, unpredictable
 * per CA/B BR §7.1). The top bit is cleared so DER needs no sign padding, and the first byte is non-zero
 * so the encoding stays exactly 16 bytes.
 */
export function randomSerialHex(): string {
  const bytes = randomBytes(16);
  bytes[0] = ((bytes[0] as number) & 0x7f) | 0x01;
  return bytes.toString('hex');
}

export function assertTtl(ttlSeconds: number, what: string): void {
  if (!Number.isSafeInteger(ttlSeconds) || ttlSeconds <= 0) {
    throw new TypeError(`${what} must be a positive integer number of seconds`);
  }
}

/**
 * Creates a self-signed ECDSA P-256 root for one trust domain. Per X509-SVID spec §4.1/§4.3 a signing
 * certificate sets CA=true and keyCertSign; it MAY carry the trust domain's SPIFFE ID as URI SAN (§2),
 * which lets operators see which trust domain a bundle entry belongs to.
 */
export async function createCertificateAuthority(
  opts: CreateCertificateAuthorityOptions,
): Promise<CertificateAuthority> {
  assertTrustDomain(opts.trustDomain);
  const ttlSeconds = opts.ttlSeconds ?? DEFAULT_CA_TTL_SECONDS;
  assertTtl(ttlSeconds, 'ttlSeconds');
  const now = opts.now ?? new Date();
  const commonName = opts.commonName ?? `Zen Mesh CA ${opts.trustDomain}`;

  const keys = await crypto.subtle.generateKey(ECDSA_P256, true, ['sign', 'verify']);
  const name = [{ CN: [commonName] }, { O: ['Zen Mesh'] }];
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomSerialHex(),
    name,
    // Same allowance as for SVIDs (and never later than theirs): a verifier whose clock runs behind accepts it.
    notBefore: new Date(now.getTime() - CLOCK_SKEW_TOLERANCE_MS),
    notAfter: new Date(now.getTime() + ttlSeconds * 1000),
    keys,
    signingAlgorithm: ECDSA_SHA256,
    extensions: [
      new x509.BasicConstraintsExtension(true, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      new x509.SubjectAlternativeNameExtension([{ type: 'url', value: trustDomainId(opts.trustDomain) }]),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
      await x509.AuthorityKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  const pkcs8 = await crypto.subtle.exportKey('pkcs8', keys.privateKey);
  const keyPem = x509.PemConverter.encode(pkcs8, 'PRIVATE KEY');
  return { certPem: cert.toString('pem'), keyPem, trustDomain: opts.trustDomain };
}
