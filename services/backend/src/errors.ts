import { ZenMeshError } from '@zenmesh/errors';

/** Stable codes of the store layer; the gRPC edge maps each to a status code (handlers.ts). */
export type BackendErrorCode =
  | 'ERR_INVALID_ARGUMENT'
  | 'ERR_NOT_FOUND'
  | 'ERR_ALREADY_EXISTS'
  | 'ERR_FAILED_PRECONDITION'
  /** A broken invariant (a row that must exist does not): INTERNAL at the edge, the detail in the log. */
  | 'ERR_INTERNAL';

export class BackendError extends ZenMeshError<BackendErrorCode> {
  override readonly name = 'BackendError';
  /** Short machine-readable reason sent to the caller, e.g. `tenant_not_found`, `lease_lost`. */
  readonly reason: string;

  constructor(code: BackendErrorCode, reason: string, options?: { cause?: unknown; detail?: string }) {
    super(
      code,
      options?.detail ?? reason,
      options?.cause === undefined ? undefined : { cause: options.cause },
    );
    this.reason = reason;
  }
}

export const invalid = (reason: string): BackendError => new BackendError('ERR_INVALID_ARGUMENT', reason);
export const notFound = (reason: string): BackendError => new BackendError('ERR_NOT_FOUND', reason);

/** A broken invariant: the caller gets INTERNAL `internal`; `detail` reaches the server log only. */
export const internal = (detail: string): BackendError =>
  new BackendError('ERR_INTERNAL', 'internal', { detail });
