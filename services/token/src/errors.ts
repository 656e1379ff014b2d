export type TokenErrorCode =
  | 'ERR_BOOTSTRAP_HASH_INVALID'
  | 'ERR_API_KEY_ARGUMENT'
  | 'ERR_CONFIG'
  | 'ERR_SIGNING_KEYS'
  | 'ERR_USER_ARGUMENT'
  | 'ERR_USER_EXISTS'
  | 'ERR_CLIENT_ARGUMENT';

/** The one error type of the token service; narrow on `code` (stable across versions). */
export class TokenError extends Error {
  override readonly name = 'TokenError';
  readonly code: TokenErrorCode;
  constructor(code: TokenErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.code = code;
  }
}

/**
 * An OAuth 2.0 error answer (RFC 6749 §5.2 and friends): `error` is the registered code, `status` the HTTP
 * status. The description is short and never names which credential was wrong.
 */
export class OAuthError extends Error {
  override readonly name = 'OAuthError';
  readonly error: string;
  readonly status: number;
  constructor(error: string, description: string, status = 400) {
    super(description);
    this.error = error;
    this.status = status;
  }
}
