import { status as Code } from '@grpc/grpc-js';
import { ZenMeshError } from '@zenmesh/errors';

export { Code };

/**
 * A refusal or failure of one RPC. `reason` is a short, stable, machine-readable string that crosses the
 * wire (the gRPC status details); anything more specific stays in the server log via `cause`.
 */
export class RpcError extends ZenMeshError<Code> {
  override readonly name = 'RpcError';
  readonly reason: string;
  constructor(code: Code, reason: string, options?: ErrorOptions) {
    super(code, `${Code[code] ?? code}: ${reason}`, options);
    this.reason = reason;
  }
}

export const isRpcError = (err: unknown): err is RpcError =>
  err instanceof Error &&
  (err as { name?: unknown }).name === 'RpcError' &&
  typeof (err as RpcError).code === 'number';
