import { ZenMeshError } from '@zenmesh/errors';

export type AuthErrorCode =
  | 'ERR_TOKEN_MISSING'
  | 'ERR_TOKEN_INVALID'
  | 'ERR_TOKEN_EXPIRED'
  | 'ERR_TOKEN_REVOKED'
  | 'ERR_INSUFFICIENT_SCOPE'
  | 'ERR_JWKS_UNAVAILABLE';

/** The one error type of @zenmesh/auth; narrow on `code` (stable across versions), not on `instanceof`. */
export class AuthError extends ZenMeshError<AuthErrorCode> {
  override readonly name = 'AuthError';
}

export const isAuthError = (err: unknown, code?: AuthErrorCode): err is AuthError =>
  err instanceof Error &&
  (err as { name?: unknown }).name === 'AuthError' &&
  typeof (err as { code?: unknown }).code === 'string' &&
  (code === undefined || (err as unknown as { code: unknown }).code === code);
