import type { PeerCertificate } from 'node:tls';
import { admitMessage, isExempt, type MessageIntegrity } from './message-integrity.js';
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
  /** The exact request bytes received (the HMAC covers these). */
  body: Uint8Array;
}

/** The gRPC status a refusal is answered with (names of `Code`, so this file needs no grpc-js). */
export type RefusalStatus = 'UNAUTHENTICATED' | 'PERMISSION_DENIED' | 'UNAVAILABLE';

export type AdmissionVerdict =
  | {
      ok: true;
      caller: Peer;
      /** Key version and nonce the request was signed with, for the response signature; undefined: unsigned. */
      signed: { keyId: string; nonce: string } | undefined;
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
    };

export interface AdmissionOptions {
  trustDomain: string;
  namespace: string;
  policy: PolicyTable;
  verifyPeer?: PeerCheck | undefined;
  integrity: MessageIntegrity | false;
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
  extra: { detail?: string | undefined; cause?: unknown } = {},
): AdmissionVerdict => ({ ok: false, status, reason, caller, ...extra });

/** The pure admission core of every mesh server: `server.ts` only adapts grpc-js calls to it. */
export function createAdmission(options: AdmissionOptions): Admission {
  const { policy, verifyPeer } = options;
  const own = { trustDomain: options.trustDomain, namespace: options.namespace };
  const integrity = options.integrity === false ? undefined : options.integrity;
  return {
    async admit({ method, peer: cert, metadata, body }) {
      const caller = peerFromCertificate(cert);
      if (verifyPeer) {
        const verdict = verifyPeer(cert);
        if (!verdict.ok)
          return refused('UNAUTHENTICATED', verdict.reason, caller, { detail: verdict.detail });
      }
      if (!caller) return refused('UNAUTHENTICATED', 'no_peer_identity', undefined);
      const decision = authorize(policy, method.slice(1), caller, own);
      if (!decision.allowed) return refused('PERMISSION_DENIED', decision.reason, caller);
      if (!integrity || isExempt(integrity, method)) return { ok: true, caller, signed: undefined };
      const verdict = await admitMessage(integrity, {
        path: method,
        callerId: caller.spiffeId,
        body,
        read: metadata,
      });
      if (verdict.ok) {
        const signed =
          verdict.keyId === undefined || verdict.nonce === undefined
            ? undefined
            : { keyId: verdict.keyId, nonce: verdict.nonce };
        return { ok: true, caller, signed };
      }
      return verdict.reason === 'replay_store_unavailable'
        ? refused('UNAVAILABLE', verdict.reason, caller, { cause: verdict.cause })
        : refused('UNAUTHENTICATED', verdict.reason, caller);
    },
  };
}
