import { isExempt, type MessageIntegrity, signatureMetadata } from './message-integrity.js';

/** The key version and nonce a request was signed with: the response signature is bound to them. */
export interface SignedRequest {
  keyId: string;
  nonce: string;
}

export type ResponseRefusal = 'missing_response_signature' | 'bad_response_signature';

/** The client half of message integrity, without transport objects: what `client.ts` runs per call. */
export interface CallSigner {
  /**
   * Signs the exact request bytes (key id, timestamp, nonce in the returned metadata). Undefined when this
   * call goes unsigned: no integrity, or an exempt method (health). `callerId` (our own SPIFFE ID, read from
   * the current certificate) is asked only for a call that is signed.
   */
  sign(
    path: string,
    callerId: () => string,
    body: Uint8Array,
  ): { metadata: Record<string, string>; signed: SignedRequest } | undefined;
  /**
   * Checks a unary response's signature over its exact bytes before anything parses them; a refusal reason,
   * or undefined when it verifies (or the request was not signed).
   */
  checkResponse(
    path: string,
    signed: SignedRequest | undefined,
    body: Uint8Array,
    given: string | undefined,
  ): ResponseRefusal | undefined;
}

export function createCallSigner(option: MessageIntegrity | false): CallSigner {
  const integrity = option === false ? undefined : option;
  return {
    sign(path, callerId, body) {
      if (!integrity || isExempt(integrity, path)) return undefined;
      const sig = integrity.signer.signRequest({ path, callerId: callerId(), body });
      return { metadata: signatureMetadata(sig), signed: { keyId: sig.keyId, nonce: sig.nonce } };
    },
    checkResponse(path, signed, body, given) {
      if (!integrity || !signed) return undefined;
      if (given === undefined) return 'missing_response_signature';
      const ok = integrity.signer.verifyResponse({ path, ...signed, body, signature: given });
      return ok ? undefined : 'bad_response_signature';
    },
  };
}
