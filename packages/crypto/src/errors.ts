import { ZenMeshError } from '@zenmesh/errors';

export type CryptoErrorCode =
  | 'ERR_MASTER_KEY_UNREADABLE'
  | 'ERR_MASTER_KEY_INVALID'
  | 'ERR_SECRET_BOX_OPEN'
  | 'ERR_SECRET_BOX_FORMAT'
  | 'ERR_KEYRING_INVALID'
  | 'ERR_NO_PAIR_KEY'
  | 'ERR_SEALING_KEY_MISSING'
  | 'ERR_NONCE_STORE_UNAVAILABLE';

/** The one error type of this package; narrow on `code` (stable across versions). */
export class CryptoError extends ZenMeshError<CryptoErrorCode> {
  override readonly name = 'CryptoError';
}
