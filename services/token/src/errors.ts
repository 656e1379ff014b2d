import { ZenMeshError } from '@zenmesh/errors';

export type TokenErrorCode =
  | 'ERR_BOOTSTRAP_HASH_INVALID'
  | 'ERR_API_KEY_ARGUMENT'
  | 'ERR_CONFIG'
  | 'ERR_SIGNING_KEYS'
  | 'ERR_USER_ARGUMENT'
  | 'ERR_USER_EXISTS'
  | 'ERR_CLIENT_ARGUMENT'
  /** A broken invariant (a row that must exist does not). */
  | 'ERR_INTERNAL';

/** The one error type of the token service; narrow on `code` (stable across versions). */
export class TokenError extends ZenMeshError<TokenErrorCode> {
  override readonly name = 'TokenError';
}

/**
 * An OAuth 2.0 error answer (RFC 6749 §5.2 and friends): `error` is the registered code, `status` the HTTP
 * status. The description is short and never names which credential was wrong.
 */
export class OAuthError extends ZenMeshError<'ERR_OAUTH'> {
  override readonly name = 'OAuthError';
  readonly error: string;
  readonly status: number;
  /** Headers the answer carries (the `X-RateLimit-*` of the budget the request was counted against). */
  headers: Record<string, string>;
  /** Seconds to wait, for a `rate_limited` answer (`retry_after` in the body). */
  readonly retryAfter: number | undefined;
  constructor(
    error: string,
    description: string,
    status = 400,
    extra: { headers?: Record<string, string>; retryAfter?: number } = {},
  ) {
    super('ERR_OAUTH', description);
    this.error = error;
    this.status = status;
    this.headers = extra.headers ?? {};
    this.retryAfter = extra.retryAfter;
  }
}
