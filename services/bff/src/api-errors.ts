import { ZenMeshError } from '@zenmesh/errors';
import { Code, isRpcError } from '@zenmesh/rpc';

export interface ApiErrorResponse {
  status: number;
  body: { error: string; message?: string; retry_after?: number };
  /** Extra headers of the answer (Retry-After and X-RateLimit-* of a 429). */
  headers?: Record<string, string>;
}

/** A refusal decided inside the BFF itself, thrown by route handlers and rendered by the app. */
export class ApiRefusal extends ZenMeshError<'ERR_API_REFUSED'> {
  override readonly name = 'ApiRefusal';
  readonly response: ApiErrorResponse;
  constructor(
    status: number,
    error: string,
    message?: string,
    extra: { headers?: Record<string, string>; body?: { retry_after?: number } } = {},
  ) {
    super('ERR_API_REFUSED', message === undefined ? error : `${error}: ${message}`);
    this.response = {
      status,
      body: { error, ...(message === undefined ? {} : { message }), ...extra.body },
      ...(extra.headers === undefined ? {} : { headers: extra.headers }),
    };
  }
}

/**
 * A backend or token answer missing what its contract promises (a created resource, say): a bug upstream.
 * Rendered as a detail-free 500 like any unexpected failure; the message reaches the log.
 */
export class UpstreamAnswerError extends ZenMeshError<'ERR_UPSTREAM_ANSWER'> {
  override readonly name = 'UpstreamAnswerError';
  constructor(rpc: string, missing: string) {
    super('ERR_UPSTREAM_ANSWER', `${rpc} answered without ${missing}`);
  }
}

export const unauthenticated = (): ApiRefusal => new ApiRefusal(401, 'unauthenticated');
export const forbidden = (): ApiRefusal => new ApiRefusal(403, 'forbidden');
export const invalidArgument = (message: string): ApiRefusal =>
  new ApiRefusal(400, 'invalid_argument', message);

/**
 * Maps a failure to the HTTP answer. RpcError reasons are the servers' short, stable strings, so they
 * may be shown for client errors; anything else becomes a detail-free 500 (the detail goes to the log).
 */
export function toApiError(err: unknown): ApiErrorResponse {
  if (err instanceof ApiRefusal) return err.response;
  if (isRpcError(err)) {
    switch (err.code) {
      case Code.INVALID_ARGUMENT:
        return { status: 400, body: { error: 'invalid_argument', message: err.reason } };
      case Code.NOT_FOUND:
        return { status: 404, body: { error: 'not_found', message: err.reason } };
      case Code.ALREADY_EXISTS:
        return { status: 409, body: { error: 'already_exists', message: err.reason } };
      // e.g. replaying to a disabled endpoint, or a delivery whose transformation still fails.
      case Code.FAILED_PRECONDITION:
        return { status: 409, body: { error: 'failed_precondition', message: err.reason } };
      case Code.PERMISSION_DENIED:
        return { status: 403, body: { error: 'forbidden' } };
      case Code.UNAVAILABLE:
        return { status: 503, body: { error: 'unavailable' } };
      default:
        break;
    }
  }
  return { status: 500, body: { error: 'internal' } };
}
