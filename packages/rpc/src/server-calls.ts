import { create, type DescMethod, fromBinary, toBinary } from '@bufbuild/protobuf';
import * as grpc from '@grpc/grpc-js';
import { context, propagation, ROOT_CONTEXT, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import type { Logger } from '@zenmesh/telemetry';
import { Code, isRpcError, RpcError } from './errors.js';
import type { Peer } from './policy.js';
import { metadataGetter } from './trace-context.js';
import type { CallContext } from './types.js';

export type AnyServerCall = grpc.ServerUnaryCall<Buffer, Buffer> | grpc.ServerWritableStream<Buffer, Buffer>;

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

  const makeContext = (call: AnyServerCall, path: string, peer: Peer): CallContext => {
    const controller = new AbortController();
    call.on('cancelled', () => controller.abort(new RpcError(Code.CANCELLED, 'cancelled')));
    const deadline = call.getDeadline();
    const deadlineDate =
      deadline instanceof Date ? deadline : Number.isFinite(deadline) ? new Date(deadline) : undefined;
    return {
      peer,
      path,
      signal: controller.signal,
      deadline: deadlineDate,
      logger: logger.child({ rpc: path, peer: peer.spiffeId }),
      header(name) {
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
      peer: Peer,
      trailer: (body: Buffer) => grpc.Metadata | undefined,
    ): void {
      const { span, ctx } = spanFor(call, path, peer);
      void context.with(ctx, async () => {
        try {
          const reply = await fn(parse(method, call.request), makeContext(call, path, peer));
          const bytes = encode(method, reply);
          callback(null, bytes, trailer(bytes));
        } catch (err) {
          const error = toServiceError(err, path);
          span.setStatus({ code: SpanStatusCode.ERROR, message: error.details });
          span.setAttribute('rpc.grpc.status_code', error.code);
          callback(error);
        } finally {
          span.end();
        }
      });
    },

    // Streamed responses are not signed (gRPC metadata cannot follow each message); the request is.
    stream(
      method: DescMethod,
      path: string,
      fn: StreamHandler,
      call: grpc.ServerWritableStream<Buffer, Buffer>,
      peer: Peer,
    ): void {
      const { span, ctx } = spanFor(call, path, peer);
      void context.with(ctx, async () => {
        try {
          const iterable = fn(parse(method, call.request), makeContext(call, path, peer));
          for await (const item of iterable) {
            if (call.cancelled) break;
            if (!call.write(encode(method, item))) await new Promise((r) => call.once('drain', r));
          }
          call.end();
        } catch (err) {
          const error = toServiceError(err, path);
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
