export {
  type CertificateAuthority,
  type CreateCertificateAuthorityOptions,
  createCertificateAuthority,
} from './ca.js';
export { type CertificateInfo, describeCertificate, normaliseSerial } from './certificate-info.js';
export { CLOCK_SKEW_TOLERANCE_MS } from './clock-skew.js';
export { createCsr } from './csr.js';
export { PkiError, type PkiErrorCode } from './errors.js';
export { fingerprint } from './fingerprint.js';
export { generateKeyPair, type KeyPairPem } from './keys.js';
export { signRenewalProof, verifyRenewalProof } from './renewal-proof.js';
export { spiffeIdFromCertificate } from './san.js';
export {
  DEFAULT_NAMESPACE,
  DEFAULT_TRUST_DOMAIN,
  type ParsedSpiffeId,
  parseSpiffeId,
  type SpiffeId,
  spiffeIdFor,
  trustDomainId,
} from './spiffe-id.js';
export {
  DEFAULT_SVID_TTL_SECONDS,
  type IssuedSvid,
  type IssueSvidOptions,
  issueSvid,
  issueSvidWithKey,
} from './svid-issue.js';
export {
  checkSvidProfile,
  type ValidatedSvid,
  type ValidateSvidOptions,
  validateSvid,
} from './svid-validate.js';
