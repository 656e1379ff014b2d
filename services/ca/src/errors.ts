export type CaErrorCode =
  | 'ERR_TRUST_BUNDLE_UNREADABLE'
  | 'ERR_TRUST_BUNDLE_EMPTY'
  | 'ERR_TRUST_BUNDLE_INVALID';

/** The one error type of the CA service; narrow on `code` (stable across versions). */
export class CaError extends Error {
  override readonly name = 'CaError';
  readonly code: CaErrorCode;
  constructor(code: CaErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.code = code;
  }
}
