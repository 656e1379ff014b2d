import { ZenMeshError } from '@zenmesh/errors';

export type IdentityErrorCode =
  | 'ERR_JOIN_REFUSED'
  | 'ERR_JOIN_UNREACHABLE'
  | 'ERR_NO_CREDENTIALS'
  | 'ERR_PEER_REFUSED'
  | 'ERR_CA_MALFORMED_ANSWER'
  | 'ERR_JOIN_TOKEN_INVALID'
  | 'ERR_JOIN_TOKEN_EXPIRED';

/** The one error type of @zenmesh/identity; narrow on `code`. `reason` is the CA's or guard's short reason. */
export class IdentityError extends ZenMeshError<IdentityErrorCode> {
  override readonly name = 'IdentityError';
  readonly reason: string;
  constructor(code: IdentityErrorCode, reason: string, message: string, options?: ErrorOptions) {
    super(code, message, options);
    this.reason = reason;
  }
}
