import * as x509 from '@peculiar/x509';

// @peculiar/x509 needs a WebCrypto provider; Node's built-in one is the audited choice (no polyfill).
x509.cryptoProvider.set(globalThis.crypto);

/** Certificate extension OIDs we read or write (RFC 5280 §4.2.1). */
export const OID = {
  subjectKeyIdentifier: '2.5.29.14',
  keyUsage: '2.5.29.15',
  subjectAltName: '2.5.29.17',
  basicConstraints: '2.5.29.19',
  nameConstraints: '2.5.29.30',
  certificatePolicies: '2.5.29.32',
  policyConstraints: '2.5.29.36',
  authorityKeyIdentifier: '2.5.29.35',
  extKeyUsage: '2.5.29.37',
  inhibitAnyPolicy: '2.5.29.54',
} as const;

export { x509 };
