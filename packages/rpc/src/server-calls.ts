import { create, type DescMethod, fromBinary, toBinary } from '@bufbuild/protobuf';
import * as grpc from '@grpc/grpc-js';
import { context, propagation, ROOT_CONTEXT, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import type { Logger } from '@zenmesh/telemetry';
import { Code, isRpcError, RpcError } from './errors.js';
import type { Peer } from './policy.js';
import { metadataGetter } from './trace-context.js';
import type { CallContext } from './types.js';

export type AnyServerCall = grpc.ServerUnaryCall<Buffer, Buffer> | grpc.ServerWritableStream<Buffer, Buffer>;

/** Signs the outcome of a call for its caller (undefined when the call was not signed). */
export type OutcomeTrailer = (
  outcome: { code: 0; body: Uint8Array } | { code: number; reason: string },
) => grpc.Metadata | undefined;

/** What admission established about a call: who calls, and which metadata names its signature covered. */
export interface AdmittedCall {
  caller: Peer;
  /** Undefined: every key is readable (integrity off, or an exempt method). */
  headers: readonly string[] | undefined;
}

type UnaryHandler = (request: unknown, ctx: CallContext) => Promise<object>;
type StreamHandler = (request: unknown, ctx: CallContext) => AsyncIterable<object>;

/**
 * How one admitted call reaches its handler: the request parsed from the exact bytes (malformed bytes are
 * INVALID_ARGUMENT, not INTERNAL), the handler's context, a server span continuing the caller's trace, and
 * the handler's outcome mapped to a gRPC status (an RpcError keeps its code and reason; anything else is a
 * detail-free INTERNAL, logged).
 */
export function createCallRunner(options: { service: string; logger: Logger }) {
  const { logger } = options;
  const tracer = trace.getTracer('@zenmesh/rpc');

  const makeContext = (call: AnyServerCall, path: string, admitted: AdmittedCall): CallContext => {
    const peer = admitted.caller;
    // Built on first use: most handlers never look at the signal or log, and each costs an allocation
    // (and a pino child) per call on the hot path.
    let controller: AbortController | undefined;
    let child: Logger | undefined;
    const deadline = call.getDeadline();
    const deadlineDate =
      deadline instanceof Date ? deadline : Number.isFinite(deadline) ? new Date(deadline) : undefined;
    const covered = admitted.headers;
    return {
      peer,
      path,
      get signal() {
        if (!controller) {
          const c = new AbortController();
          controller = c;
          if (call.cancelled) c.abort(new RpcError(Code.CANCELLED, 'cancelled'));
          else call.once('cancelled', () => c.abort(new RpcError(Code.CANCELLED, 'cancelled')));
        }
        return controller.signal;
      },
      deadline: deadlineDate,
      get logger() {
        child ??= logger.child({ rpc: path, peer: peer.spiffeId });
        return child;
      },
      header(name) {
        // A signed call exposes only the metadata its signature covered: anything added on the way is unseen.
        if (covered !== undefined && !covered.includes(name)) return undefined;
        const value = call.metadata.get(name)[0];
        return value === undefined ? undefined : String(value);
      },
    };
  };

  const toServiceError = (err: unknown, path: string): grpc.ServiceError => {
    if (isRpcError(err)) return serviceError(err.code, err.reason);
    logger.error({ err, rpc: path }, 'handler failed');
    return serviceError(Code.INTERNAL, 'internal');
  };

  const parse = (method: DescMethod, bytes: Buffer) => {
    try {
      return fromBinary(method.input, bytes);
    } catch (err) {
      throw new RpcError(Code.INVALID_ARGUMENT, 'malformed_request', { cause: err });
    }
  };

  const encode = (method: DescMethod, message: object) =>
    Buffer.from(toBinary(method.output, create(method.output, message as Record<string, unknown>)));

  /** The handler's failure as a status, its signature (when the call was signed) in the trailers. */
  const failed = (err: unknown, path: string, trailer: OutcomeTrailer) => {
    const error = toServiceError(err, path);
    const signed = trailer({ code: error.code, reason: error.details });
    if (signed) error.metadata = signed;
    return error;
  };

  const spanFor = (call: AnyServerCall, path: string, peer: Peer) => {
    const parent = propagation.extract(ROOT_CONTEXT, call.metadata, metadataGetter);
    const span = tracer.startSpan(
      path.slice(1),
      {
        kind: SpanKind.SERVER,
        attributes: {
          'rpc.system': 'grpc',
          'rpc.method': path,
          'zenmesh.peer': peer.spiffeId,
          'zenmesh.service': options.service,
        },
      },
      parent,
    );
    return { span, ctx: trace.setSpan(parent, span) };
  };

  return {
    unary(
      method: DescMethod,
      path: string,
      fn: UnaryHandler,
      call: grpc.ServerUnaryCall<Buffer, Buffer>,
      callback: grpc.sendUnaryData<Buffer>,
      admitted: AdmittedCall,
      trailer: OutcomeTrailer,
    ): void {
      const { span, ctx } = spanFor(call, path, admitted.caller);
      void context.with(ctx, async () => {
        try {
          const reply = await fn(parse(method, call.request), makeContext(call, path, admitted));
          const bytes = encode(method, reply);
          callback(null, bytes, trailer({ code: 0, body: bytes }));
        } catch (err) {
          const error = failed(err, path, trailer);
          span.setStatus({ code: SpanStatusCode.ERROR, message: error.details });
          span.setAttribute('rpc.grpc.status_code', error.code);
          callback(error);
        } finally {
          span.end();
        }
      });
    },

    // Streamed messages are not signed (gRPC metadata cannot follow each message); the request and an error
    // status ending the stream are.
    stream(
      method: DescMethod,
      path: string,
      fn: StreamHandler,
      call: grpc.ServerWritableStream<Buffer, Buffer>,
      admitted: AdmittedCall,
      trailer: OutcomeTrailer,
    ): void {
      const { span, ctx } = spanFor(call, path, admitted.caller);
      void context.with(ctx, async () => {
        try {
          const iterable = fn(parse(method, call.request), makeContext(call, path, admitted));
          for await (const item of iterable) {
            if (call.cancelled) break;
            if (!call.write(encode(method, item))) await new Promise((r) => call.once('drain', r));
          }
          call.end();
        } catch (err) {
          const error = failed(err, path, trailer);
          span.setStatus({ code: SpanStatusCode.ERROR, message: error.details });
          call.destroy(error);
        } finally {
          span.end();
        }
      });
    },
  };
}

/** A grpc-js error answer: `details` is the short, stable reason that crosses the wire. */
export const serviceError = (code: Code, reason: string): grpc.ServiceError =>
  Object.assign(new Error(reason), { code, details: reason, metadata: new grpc.Metadata() });
