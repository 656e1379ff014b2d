import type { DescMessage, MessageInitShape, MessageShape } from '@bufbuild/protobuf';
import type { GenService, GenServiceMethods } from '@bufbuild/protobuf/codegenv2';
import type { Logger } from '@zenmesh/telemetry';
import type { IdentityProvider, TlsIdentity } from './certificate-provider.js';
import type { MessageIntegrity } from './message-integrity.js';
import type { PeerCheck } from './peer.js';
import type { Peer } from './policy.js';

export type AnyService = GenService<GenServiceMethods>;

/**
 * What every server and channel of one process shares. A service's main.ts builds it once (`@zenmesh/runtime`
 * `startMeshRuntime`) and passes it explicitly; nothing is taken from process-wide defaults.
 */
export interface MeshTransport {
  identity: TlsIdentity | IdentityProvider;
  trustDomain: string;
  namespace: string;
  /** Per-message HMAC and replay protection; `false` means mutual TLS alone (tests of mTLS, probes). */
  integrity: MessageIntegrity | false;
  /**
   * A per-call check of the peer's certificate on top of the handshake (e.g. the revocation list and the
   * X509-SVID profile, `@zenmesh/identity` `guard.verify`): servers run it on every call, channels on every
   * handshake. A certificate revoked while its connection is open is refused on that connection's next call.
   */
  verifyPeer?: PeerCheck | undefined;
  /**
   * Servers close each client connection this long after it was opened (HTTP/2 GOAWAY), so connections never
   * outlive the certificates they were authenticated with by much; channels reconnect. Default: never.
   */
  maxConnectionAgeMs?: number | undefined;
}

/** What a handler knows about the call besides the request: who is calling, and until when. */
export interface CallContext {
  readonly peer: Peer;
  /** Aborted when the client cancels or the deadline passes. */
  readonly signal: AbortSignal;
  readonly deadline: Date | undefined;
  readonly logger: Logger;
  /** Full method path, e.g. `/zenmesh.v1.EventService/RecordEvent`. */
  readonly path: string;
  /** A request metadata value (lower-case key), e.g. a forwarded user token; undefined when absent. */
  header(name: string): string | undefined;
}

type UnaryImpl<I extends DescMessage, O extends DescMessage> = (
  request: MessageShape<I>,
  ctx: CallContext,
) => Promise<MessageInitShape<O>>;

type ServerStreamImpl<I extends DescMessage, O extends DescMessage> = (
  request: MessageShape<I>,
  ctx: CallContext,
) => AsyncIterable<MessageInitShape<O>>;

/** The handlers of one service, typed from its generated descriptor: every method required. */
export type ServiceImpl<S extends GenServiceMethods> = {
  [K in keyof S]: S[K] extends {
    methodKind: 'unary';
    input: infer I extends DescMessage;
    output: infer O extends DescMessage;
  }
    ? UnaryImpl<I, O>
    : S[K] extends {
          methodKind: 'server_streaming';
          input: infer I extends DescMessage;
          output: infer O extends DescMessage;
        }
      ? ServerStreamImpl<I, O>
      : never;
};

export interface CallOptions {
  /** Extra request metadata (lower-case ASCII keys), e.g. `authorization` carrying a user's token. */
  metadata?: Record<string, string>;
  /** Overrides the channel's default deadline for this call. */
  timeoutMs?: number;
  signal?: AbortSignal;
}

/** The client of one service, typed from its generated descriptor. */
export type ServiceClient<S extends GenServiceMethods> = {
  [K in keyof S]: S[K] extends {
    methodKind: 'unary';
    input: infer I extends DescMessage;
    output: infer O extends DescMessage;
  }
    ? (request: MessageInitShape<I>, options?: CallOptions) => Promise<MessageShape<O>>
    : S[K] extends {
          methodKind: 'server_streaming';
          input: infer I extends DescMessage;
          output: infer O extends DescMessage;
        }
      ? (request: MessageInitShape<I>, options?: CallOptions) => AsyncIterable<MessageShape<O>>
      : never;
};
