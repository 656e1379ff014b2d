import { fingerprintOf, readCertificate } from './fingerprint.js';

/** What operators see of a certificate in `zenmesh ca status`. */
export interface CertificateInfo {
  /** Lower-case hex. */
  serial: string;
  subject: string;
  issuer: string;
  notBefore: Date;
  notAfter: Date;
  /** SHA-256 of the DER, lower-case hex. */
  fingerprint: string;
  isCa: boolean;
}

/** Reads the first certificate of a PEM. Throws PkiError ERR_CERT_MALFORMED when it is not one. */
export function describeCertificate(pem: string): CertificateInfo {
  const cert = readCertificate(pem);
  return {
    serial: cert.serialNumber.toLowerCase(),
    subject: cert.subject.replaceAll('\n', ', '),
    issuer: cert.issuer.replaceAll('\n', ', '),
    notBefore: cert.validFromDate,
    notAfter: cert.validToDate,
    fingerprint: fingerprintOf(cert),
    isCa: cert.ca,
  };
}

/** Normalises an operator-typed serial (`0A:1b…`, `0a1b…`) to lower-case hex without separators. */
export function normaliseSerial(text: string): string {
  const hex = text.replaceAll(':', '').toLowerCase();
  if (!/^[0-9a-f]{1,40}$/.test(hex)) throw new TypeError(`not a certificate serial: ${JSON.stringify(text)}`);
  return hex;
}
