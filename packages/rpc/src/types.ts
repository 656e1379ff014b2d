import type { DescMessage, MessageInitShape, MessageShape } from '@bufbuild/protobuf';
import type { GenService, GenServiceMethods } from '@bufbuild/protobuf/codegenv2';
import type { Logger } from '@zenmesh/telemetry';
import type { Peer } from './policy.js';

export type AnyService = GenService<GenServiceMethods>;

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
