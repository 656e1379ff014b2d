import { ZenMeshError } from '@zenmesh/errors';

export type CaErrorCode =
  | 'ERR_TRUST_BUNDLE_UNREADABLE'
  | 'ERR_TRUST_BUNDLE_EMPTY'
  | 'ERR_TRUST_BUNDLE_INVALID'
  | 'ERR_SECRETS_DIR'
  | 'ERR_CA_STATE'
  | 'ERR_AUDIT_LOG'
  | 'ERR_JOIN_TOKEN_INVALID'
  | 'ERR_JOIN_TOKEN_EXPIRED'
  | 'ERR_JOIN_TOKEN_USED'
  | 'ERR_JOIN_TOKEN_IDENTITY'
  | 'ERR_RENEW_IDENTITY'
  | 'ERR_RENEW_PROOF'
  | 'ERR_REVOKED'
  | 'ERR_ROTATION_STATE'
  | 'ERR_ROTATION_TIMEOUT'
  | 'ERR_ROTATION_PROBE';

/** The one error type of the CA service; narrow on `code` (stable across versions). */
export class CaError extends ZenMeshError<CaErrorCode> {
  override readonly name = 'CaError';
}
