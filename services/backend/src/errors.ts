/** Stable codes of the store layer; the gRPC edge maps each to a status code (handlers.ts). */
export type BackendErrorCode =
  | 'ERR_INVALID_ARGUMENT'
  | 'ERR_NOT_FOUND'
  | 'ERR_ALREADY_EXISTS'
  | 'ERR_FAILED_PRECONDITION';

export class BackendError extends Error {
  override readonly name = 'BackendError';
  readonly code: BackendErrorCode;
  /** Short machine-readable reason sent to the caller, e.g. `tenant_not_found`, `lease_lost`. */
  readonly reason: string;

  constructor(code: BackendErrorCode, reason: string, options?: { cause?: unknown }) {
    super(reason, options);
    this.code = code;
    this.reason = reason;
  }
}

export const invalid = (reason: string): BackendError => new BackendError('ERR_INVALID_ARGUMENT', reason);
export const notFound = (reason: string): BackendError => new BackendError('ERR_NOT_FOUND', reason);
