import { ZenMeshError } from '@zenmesh/errors';

/**
 * Stable refusal codes. Callers (and other packages) narrow on `code`, never on `instanceof`,
 * because two copies of this package may be loaded side by side.
 */
export type PkiErrorCode =
  | 'ERR_SPIFFE_ID_INVALID'
  | 'ERR_TRUST_DOMAIN_INVALID'
  | 'ERR_TRUST_DOMAIN_MISMATCH'
  | 'ERR_CA_INVALID'
  | 'ERR_KEY_INVALID'
  | 'ERR_CSR_INVALID'
  | 'ERR_CSR_MISMATCH'
  | 'ERR_CERT_MALFORMED'
  | 'ERR_SVID_NO_URI_SAN'
  | 'ERR_SVID_MULTIPLE_URI_SANS'
  | 'ERR_SVID_CA_LEAF'
  | 'ERR_SVID_KEY_USAGE'
  | 'ERR_SVID_EXT_KEY_USAGE'
  | 'ERR_SVID_TRUST_DOMAIN'
  | 'ERR_SVID_EXPIRED'
  | 'ERR_SVID_NOT_YET_VALID'
  | 'ERR_SVID_UNTRUSTED'
  | 'ERR_SVID_NO_PATH'
  | 'ERR_SVID_PATH_LENGTH'
  | 'ERR_SVID_NAME_CONSTRAINTS'
  | 'ERR_SVID_ID_MISMATCH';

export class PkiError extends ZenMeshError<PkiErrorCode> {
  override readonly name = 'PkiError';
}
