import type { PeerCertificate } from 'node:tls';
import {
  admitMessage,
  INTEGRITY_METADATA,
  isExempt,
  type MessageIntegrity,
  type MetadataValues,
  parseSignature,
  type SignedCall,
} from './message-integrity.js';
import { type PeerCheck, peerFromCertificate } from './peer.js';
import { authorize, type Peer, type PolicyTable } from './policy.js';

/** One request metadata value by its lower-case name; undefined when absent. */
export type MetadataReader = (name: string) => string | undefined;

/** What the server knows of a call before its handler runs. No transport objects: tests build these by hand. */
export interface AdmissionRequest {
  /** Full method path, e.g. `/zenmesh.v1.EventService/RecordEvent`. */
  method: string;
  /** The client certificate of the TLS session; undefined when the caller presented none. */
  peer: PeerCertificate | undefined;
  metadata: MetadataReader;
  /** Every value of one request metadata key; defaults to `metadata` as a one-value list. */
  metadataValues?: MetadataValues;
  /** The exact request bytes received (the HMAC covers these). */
  body: Uint8Array;
}

/** The gRPC status a refusal is answered with (names of `Code`, so this file needs no grpc-js). */
export type RefusalStatus = 'UNAUTHENTICATED' | 'PERMISSION_DENIED' | 'UNAVAILABLE';

export type AdmissionVerdict =
  | {
      ok: true;
      caller: Peer;
      /** The signed request, for the response signature; undefined: unsigned (exempt, or integrity off). */
      signed: SignedCall | undefined;
      /**
       * The request metadata names the signature covered: a handler reads these and no others. Undefined
       * when every key is readable (integrity off or an exempt method).
       */
      headers: readonly string[] | undefined;
    }
  | {
      ok: false;
      status: RefusalStatus;
      /** The stable reason code that crosses the wire (status details). */
      reason: string;
      caller: Peer | undefined;
      /** Log-only detail. */
      detail?: string | undefined;
      cause?: unknown;
      /**
       * The call as it claims to be signed, so the refusal itself can be signed for the caller (with the
       * server→caller key); undefined when there is no caller identity or no key id and nonce to bind to.
       */
      replyTo?: SignedCall | undefined;
    };

export interface AdmissionOptions {
  trustDomain: string;
  namespace: string;
  policy: PolicyTable;
  verifyPeer?: PeerCheck | undefined;
  integrity: MessageIntegrity | false;
  /** Our own SPIFFE ID (from the current certificate): the receiver of every request, for its pair key. */
  selfId: () => string;
}

export interface Admission {
  /**
   * The checks every call passes before its handler runs, in the order of DESIGN.md "One internal call":
   * per-call peer check (revocation, SVID profile) → caller's SPIFFE ID → policy table for the method →
   * timestamp window → HMAC over the received bytes → nonce claimed. The handshake before it (a client
   * certificate chaining to the bundle) is the transport's. A nonce store that cannot answer refuses
   * (UNAVAILABLE replay_store_unavailable): fail closed.
   */
  admit(request: AdmissionRequest): Promise<AdmissionVerdict>;
}

const refused = (
  status: RefusalStatus,
  reason: string,
  caller: Peer | undefined,
  extra: { detail?: string | undefined; cause?: unknown; replyTo?: SignedCall | undefined } = {},
): AdmissionVerdict => ({ ok: false, status, reason, caller, ...extra });

/** The pure admission core of every mesh server: `server.ts` only adapts grpc-js calls to it. */
export function createAdmission(options: AdmissionOptions): Admission {
  const { policy, verifyPeer } = options;
  const own = { trustDomain: options.trustDomain, namespace: options.namespace };
  const integrity = options.integrity === false ? undefined : options.integrity;
  return {
    async admit({ method, peer: cert, metadata, metadataValues, body }) {
      const caller = peerFromCertificate(cert);
      const signing = integrity !== undefined && !isExempt(integrity, method);
      // A refusal is signed like an answer whenever there is a caller and a key id and nonce to bind it to.
      const replyTo = (): SignedCall | undefined => {
        const fields = signing && caller ? parseSignature(metadata(INTEGRITY_METADATA.signature)) : undefined;
        return caller && typeof fields === 'object'
          ? {
              keyId: fields.keyId,
              nonce: fields.nonce,
              callerId: caller.spiffeId,
              serverId: options.selfId(),
            }
          : undefined;
      };
      if (verifyPeer) {
        const verdict = verifyPeer(cert);
        if (!verdict.ok)
          return refused('UNAUTHENTICATED', verdict.reason, caller, {
            detail: verdict.detail,
            replyTo: replyTo(),
          });
      }
      if (!caller) return refused('UNAUTHENTICATED', 'no_peer_identity', undefined);
      const decision = authorize(policy, method.slice(1), caller, own);
      if (!decision.allowed)
        return refused('PERMISSION_DENIED', decision.reason, caller, { replyTo: replyTo() });
      if (!integrity || !signing) return { ok: true, caller, signed: undefined, headers: undefined };
      const verdict = await admitMessage(integrity, {
        path: method,
        callerId: caller.spiffeId,
        serverId: options.selfId(),
        body,
        read: metadata,
        readAll:
          metadataValues ??
          ((name) => {
            const v = metadata(name);
            return v === undefined ? [] : [v];
          }),
      });
      if (verdict.ok) return { ok: true, caller, signed: verdict.signed, headers: verdict.headers };
      return verdict.reason === 'replay_store_unavailable'
        ? refused('UNAVAILABLE', verdict.reason, caller, { cause: verdict.cause, replyTo: replyTo() })
        : refused('UNAUTHENTICATED', verdict.reason, caller, { replyTo: replyTo() });
    },
  };
}
