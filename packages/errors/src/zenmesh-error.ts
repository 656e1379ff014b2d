/** A stable error code: `ERR_` and upper-case words, e.g. `ERR_TOKEN_EXPIRED`. Never renamed once shipped. */
export type ErrorCode = `ERR_${string}`;

const BRAND = Symbol.for('zenmesh.error');

/**
 * The one base of every Zen Mesh error (jose's `JOSEError` is the model): a stable `code` callers narrow on,
 * a message for people, and the cause for logs. Across packages check `code` with `isZenMeshError`, never
 * `instanceof` of a subclass: two copies of a package may be loaded side by side.
 *
 * `code` is an `ErrorCode`, except for `RpcError` of `@zenmesh/rpc`, whose code is the gRPC status number
 * that crosses the wire (its `reason` is the stable string there).
 */
export class ZenMeshError<C extends ErrorCode | number = ErrorCode> extends Error {
  override readonly name: string = 'ZenMeshError';
  readonly code: C;
  constructor(code: C, message: string, options?: ErrorOptions) {
    super(message, options);
    this.code = code;
    Object.defineProperty(this, BRAND, { value: true });
  }
}

/**
 * True for any error built on `ZenMeshError` (by a brand that survives duplicate copies of this package), and
 * with `code` given, only for that code.
 */
export function isZenMeshError<C extends ErrorCode | number>(err: unknown, code?: C): err is ZenMeshError<C> {
  if (typeof err !== 'object' || err === null || !(BRAND in err)) return false;
  return code === undefined || (err as { code?: unknown }).code === code;
}
