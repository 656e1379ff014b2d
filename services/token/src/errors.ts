export type TokenErrorCode = 'ERR_BOOTSTRAP_HASH_INVALID' | 'ERR_API_KEY_ARGUMENT';

/** The one error type of the token service; narrow on `code` (stable across versions). */
export class TokenError extends Error {
  override readonly name = 'TokenError';
  readonly code: TokenErrorCode;
  constructor(code: TokenErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.code = code;
  }
}
