export type IdentityErrorCode =
  | 'ERR_JOIN_REFUSED'
  | 'ERR_JOIN_UNREACHABLE'
  | 'ERR_NO_CREDENTIALS'
  | 'ERR_PEER_REFUSED';

/** The one error type of @zenmesh/identity; narrow on `code`. `reason` is the CA's or guard's short reason. */
export class IdentityError extends Error {
  override readonly name = 'IdentityError';
  readonly code: IdentityErrorCode;
  readonly reason: string;
  constructor(code: IdentityErrorCode, reason: string, message: string, options?: ErrorOptions) {
    super(message, options);
    this.code = code;
    this.reason = reason;
  }
}
