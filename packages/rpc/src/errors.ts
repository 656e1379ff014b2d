import { status as Code } from '@grpc/grpc-js';

export { Code };

/**
 * A refusal or failure of one RPC. `reason` is a short, stable, machine-readable string that crosses the
 * wire (the gRPC status details); anything more specific stays in the server log via `cause`.
 */
export class RpcError extends Error {
  override readonly name = 'RpcError';
  readonly code: Code;
  readonly reason: string;
  constructor(code: Code, reason: string, options?: ErrorOptions) {
    super(`${Code[code] ?? code}: ${reason}`, options);
    this.code = code;
    this.reason = reason;
  }
}

export const isRpcError = (err: unknown): err is RpcError =>
  err instanceof Error &&
  (err as { name?: unknown }).name === 'RpcError' &&
  typeof (err as RpcError).code === 'number';
