import { Code } from './errors.js';
import { isExempt, type MessageIntegrity, type SignedCall, signatureMetadata } from './message-integrity.js';

export type ResponseRefusal =
  | 'missing_response_signature'
  | 'bad_response_signature'
  | 'unsigned_error_reply'
  | 'bad_error_signature';

/**
 * Statuses the client library or the network produce themselves (no connection, deadline, our own cancel):
 * no server signed them, and they only ever mean "not done" — which anyone on the path can cause anyway by
 * dropping packets — so they pass unsigned. Any other status must carry the server's signature.
 */
const TRANSPORT_STATUSES: ReadonlySet<number> = new Set([
  Code.CANCELLED,
  Code.DEADLINE_EXCEEDED,
  Code.UNAVAILABLE,
]);

/** The client half of message integrity, without transport objects: what `client.ts` runs per call. */
export interface CallSigner {
  /**
   * Signs the exact request bytes and every metadata entry in `headers` (key id, timestamp, nonce, covered
   * names in the returned metadata). Undefined when this call goes unsigned: no integrity, or an exempt
   * method (health). `callerId` (our own SPIFFE ID, read from the current certificate) is asked only for a
   * call that is signed; `serverId` is the SPIFFE ID the server's handshake must prove.
   */
  sign(
    path: string,
    callerId: () => string,
    serverId: string,
    body: Uint8Array,
    headers: Readonly<Record<string, string>>,
  ): { metadata: Record<string, string>; signed: SignedCall } | undefined;
  /**
   * Checks a unary response's signature over its exact bytes before anything parses them; a refusal reason,
   * or undefined when it verifies (or the request was not signed).
   */
  checkResponse(
    path: string,
    signed: SignedCall | undefined,
    body: Uint8Array,
    given: string | undefined,
  ): ResponseRefusal | undefined;
  /**
   * Checks an error status's signature over its code and reason: `unsigned_error_reply` when a status other
   * than a transport failure carries none, `bad_error_signature` when it does not verify.
   */
  checkStatus(
    path: string,
    signed: SignedCall | undefined,
    status: { code: number; reason: string },
    given: string | undefined,
  ): ResponseRefusal | undefined;
}

export function createCallSigner(option: MessageIntegrity | false): CallSigner {
  const integrity = option === false ? undefined : option;
  return {
    sign(path, callerId, serverId, body, headers) {
      if (!integrity || isExempt(integrity, path)) return undefined;
      const own = callerId();
      const sig = integrity.signer.signRequest({ path, callerId: own, serverId, body, headers });
      return {
        metadata: signatureMetadata(sig),
        signed: { keyId: sig.keyId, nonce: sig.nonce, callerId: own, serverId },
      };
    },
    checkResponse(path, signed, body, given) {
      if (!integrity || !signed) return undefined;
      if (given === undefined) return 'missing_response_signature';
      const outcome = { code: 0 as const, body };
      const ok = integrity.signer.verifyResponse({ path, ...signed, outcome, signature: given });
      return ok ? undefined : 'bad_response_signature';
    },
    checkStatus(path, signed, status, given) {
      if (!integrity || !signed) return undefined;
      if (given === undefined)
        return TRANSPORT_STATUSES.has(status.code) ? undefined : 'unsigned_error_reply';
      const ok = integrity.signer.verifyResponse({ path, ...signed, outcome: status, signature: given });
      return ok ? undefined : 'bad_error_signature';
    },
  };
}
