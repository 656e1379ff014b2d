import { createHash, X509Certificate } from 'node:crypto';
import { PkiError } from './errors.js';

/** Parses the first certificate of a PEM (or PEM bundle) with Node's X509Certificate. */
export function readCertificate(pem: string, what = 'certificate'): X509Certificate {
  try {
    return new X509Certificate(pem);
  } catch (cause) {
    throw new PkiError('ERR_CERT_MALFORMED', `${what}: not a readable PEM X.509 certificate`, { cause });
  }
}

/** Splits a PEM bundle into its certificates, in order. */
export function splitPemCertificates(pem: string): string[] {
  return pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
}

export function fingerprintOf(cert: X509Certificate): string {
  return createHash('sha256').update(cert.raw).digest('hex');
}

/** SHA-256 over the DER of the (first) certificate, lower-case hex without separators. */
export function fingerprint(certPem: string): string {
  return fingerprintOf(readCertificate(certPem));
}
