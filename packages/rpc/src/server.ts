import { create, type DescMethod, fromBinary, toBinary } from '@bufbuild/protobuf';
import type { GenService, GenServiceMethods } from '@bufbuild/protobuf/codegenv2';
import * as grpc from '@grpc/grpc-js';
import {
  context,
  metrics,
  propagation,
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  trace,
} from '@opentelemetry/api';
import type { Logger } from '@zenmesh/telemetry';
import { HealthImplementation } from 'grpc-health-check';
import { toIdentityProvider } from './certificate-provider.js';
import { Code, isRpcError, RpcError } from './errors.js';
import { admitMessage, INTEGRITY_METADATA, isExempt } from './message-integrity.js';
import { peerFromCall } from './peer.js';
import { authorize, MESH_POLICY, type Peer, type PolicyTable } from './policy.js';
import { metadataGetter } from './trace-context.js';
import type { CallContext, MeshTransport, ServiceImpl } from './types.js';

export interface MeshServerOptions extends MeshTransport {
  /** Our own service account name (`sa/<service>`), for logs and spans. */
  service: string;
  logger: Logger;
  policy?: PolicyTable;
  /** Largest accepted request, bytes. Default 4 MiB (the gRPC default). */
  maxRequestBytes?: number;
  /** Grace for calls in flight on a connection past its maximum age. Default 30 s. */
  connectionGraceMs?: number;
}

export interface MeshServer {
  register<S extends GenServiceMethods>(service: GenService<S>, impl: ServiceImpl<S>): void;
  listen(address: string): Promise<{ address: string; port: number }>;
  /** Set the health status reported for a service name ('' is the whole server). */
  setHealth(serviceName: string, serving: boolean): void;
  /** Stop accepting calls, let in-flight calls finish for up to graceMs, then cancel what is left. */
  shutdown(options?: { graceMs?: number }): Promise<void>;
  /** Calls refused before reaching a handler, by reason code (also the `zenmesh.rpc.refusals` metric). */
  readonly refusals: ReadonlyMap<string, number>;
}

const passThrough = (value: Buffer) => value;

type AnyServerCall = grpc.ServerUnaryCall<Buffer, Buffer> | grpc.ServerWritableStream<Buffer, Buffer>;

/** Who is calling, and the key version and nonce its request was signed with (for the response signature). */
interface Admitted {
  peer: Peer;
  keyId: string | undefined;
  nonce: string | undefined;
}

const refusalCounter = metrics.getMeter('@zenmesh/rpc').createCounter('zenmesh.rpc.refusals', {
  description: 'RPCs refused before reaching a handler, by reason',
});

/**
 * A gRPC server that accepts only mutual TLS with certificates chaining to the trust bundle, reads the
 * caller's SPIFFE ID from its certificate, checks it against the policy table for the method, and hands the
 * handler a typed request and the caller's identity. Requests are deserialised here, not by grpc-js, so the
 * exact received bytes stay available (the message-integrity layer signs those bytes) and a malformed
 * message is INVALID_ARGUMENT rather than INTERNAL.
 */
export function createMeshServer(options: MeshServerOptions): MeshServer {
  const { logger, trustDomain, namespace } = options;
  const policy = options.policy ?? MESH_POLICY;
  const identity = toIdentityProvider(options.identity);
  const { verifyPeer, maxConnectionAgeMs } = options;
  const server = new grpc.Server({
    'grpc.max_receive_message_length': options.maxRequestBytes ?? 4 * 1024 * 1024,
    ...(maxConnectionAgeMs
      ? {
          'grpc.max_connection_age_ms': maxConnectionAgeMs,
          'grpc.max_connection_age_grace_ms': options.connectionGraceMs ?? 30_000,
        }
      : {}),
  });
  const integrity = options.integrity === false ? undefined : options.integrity;
  const health = new HealthImplementation({ '': 'SERVING' });
  const healthNames = new Set<string>(['']);
  const refusals = new Map<string, number>();
  const tracer = trace.getTracer('@zenmesh/rpc');

  const refuse = (
    reason: string,
    code: Code,
    path: string,
    peer: Peer | undefined,
    detail?: string,
  ): grpc.ServiceError => {
    refusals.set(reason, (refusals.get(reason) ?? 0) + 1);
    try {
      refusalCounter.add(1, { reason, 'rpc.method': path, 'zenmesh.service': options.service });
    } catch {
      // Telemetry never throws into the request path.
    }
    logger.warn(
      { rpc: path, reason, peer: peer?.spiffeId ?? null, ...(detail ? { detail } : {}) },
      'rpc refused',
    );
    return Object.assign(new Error(reason), { code, details: reason, metadata: new grpc.Metadata() });
  };

  /**
   * The checks every call passes before its handler runs, in the order of DESIGN.md "One internal call":
   * client certificate (the handshake) → per-call peer check (revocation, SVID profile) → SPIFFE ID and
   * policy → timestamp window → HMAC over the received bytes → nonce claimed. Returns the admitted caller or
   * a refusal.
   */
  const admit = async (call: AnyServerCall, path: string): Promise<Admitted | grpc.ServiceError> => {
    const peer = peerFromCall(call);
    if (verifyPeer) {
      const verdict = verifyPeer(call.getAuthContext()?.sslPeerCertificate);
      if (!verdict.ok) return refuse(verdict.reason, Code.UNAUTHENTICATED, path, peer, verdict.detail);
    }
    if (!peer) return refuse('no_peer_identity', Code.UNAUTHENTICATED, path, undefined);
    const decision = authorize(policy, path.slice(1), peer, { trustDomain, namespace });
    if (!decision.allowed) return refuse(decision.reason, Code.PERMISSION_DENIED, path, peer);
    if (!integrity || isExempt(integrity, path)) return { peer, keyId: undefined, nonce: undefined };
    const verdict = await admitMessage(integrity, {
      path,
      callerId: peer.spiffeId,
      body: call.request,
      read: (name) => {
        const value = call.metadata.get(name)[0];
        return value === undefined ? undefined : String(value);
      },
    });
    if (!verdict.ok) {
      if (verdict.reason === 'replay_store_unavailable') {
        logger.error({ rpc: path, err: verdict.cause }, 'nonce store unavailable; refusing (fail closed)');
        return refuse(verdict.reason, Code.UNAVAILABLE, path, peer);
      }
      return refuse(verdict.reason, Code.UNAUTHENTICATED, path, peer);
    }
    return { peer, keyId: verdict.keyId, nonce: verdict.nonce };
  };

  /** Trailing metadata signing a unary response over its exact bytes, bound to the request's nonce. */
  const responseTrailer = (path: string, admitted: Admitted, body: Buffer): grpc.Metadata | undefined => {
    if (!integrity || admitted.keyId === undefined || admitted.nonce === undefined) return undefined;
    const signature = integrity.signer.signResponse({
      path,
      keyId: admitted.keyId,
      nonce: admitted.nonce,
      body,
    });
    if (signature === undefined) return undefined;
    const trailer = new grpc.Metadata();
    trailer.set(INTEGRITY_METADATA.responseSignature, signature);
    return trailer;
  };

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
    if (isRpcError(err)) {
      return Object.assign(new Error(err.reason), {
        code: err.code,
        details: err.reason,
        metadata: new grpc.Metadata(),
      });
    }
    logger.error({ err, rpc: path }, 'handler failed');
    return Object.assign(new Error('internal'), {
      code: Code.INTERNAL,
      details: 'internal',
      metadata: new grpc.Metadata(),
    });
  };

  const parse = (method: DescMethod, bytes: Buffer) => {
    try {
      return fromBinary(method.input, bytes);
    } catch (err) {
      throw new RpcError(Code.INVALID_ARGUMENT, 'malformed_request', { cause: err });
    }
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
    refusals,
    register(service, impl) {
      const definition: Record<string, grpc.MethodDefinition<Buffer, Buffer>> = {};
      const handlers: grpc.UntypedServiceImplementation = {};
      for (const method of service.methods) {
        const path = `/${service.typeName}/${method.name}`;
        const fn = (impl as Record<string, unknown>)[method.localName];
        if (typeof fn !== 'function') throw new TypeError(`register: no handler for ${path}`);
        const streaming = method.methodKind === 'server_streaming';
        if (method.methodKind !== 'unary' && !streaming) {
          throw new TypeError(`register: ${method.methodKind} methods are not supported (${path})`);
        }
        definition[method.localName] = {
          path,
          requestStream: false,
          responseStream: streaming,
          requestSerialize: passThrough,
          requestDeserialize: passThrough,
          responseSerialize: passThrough,
          responseDeserialize: passThrough,
        };
        if (!streaming) {
          const unary: grpc.handleUnaryCall<Buffer, Buffer> = (call, callback) =>
            void admit(call, path).then((admitted) => {
              if (admitted instanceof Error) return callback(admitted);
              return runUnary(call, callback, admitted);
            });
          const runUnary = (
            call: grpc.ServerUnaryCall<Buffer, Buffer>,
            callback: grpc.sendUnaryData<Buffer>,
            admitted: Admitted,
          ) => {
            const { span, ctx } = spanFor(call, path, admitted.peer);
            void context.with(ctx, async () => {
              try {
                const request = parse(method, call.request);
                const reply = await (fn as (r: unknown, c: CallContext) => Promise<object>)(
                  request,
                  makeContext(call, path, admitted.peer),
                );
                const bytes = Buffer.from(
                  toBinary(method.output, create(method.output, reply as Record<string, unknown>)),
                );
                callback(null, bytes, responseTrailer(path, admitted, bytes));
              } catch (err) {
                const error = toServiceError(err, path);
                span.setStatus({ code: SpanStatusCode.ERROR, message: error.details });
                span.setAttribute('rpc.grpc.status_code', error.code);
                callback(error);
              } finally {
                span.end();
              }
            });
          };
          handlers[method.localName] = unary;
        } else {
          // Streamed responses are not signed (gRPC metadata cannot follow each message); the request is.
          const stream: grpc.handleServerStreamingCall<Buffer, Buffer> = (call) =>
            void admit(call, path).then((admitted) => {
              if (admitted instanceof Error) call.destroy(admitted);
              else runStream(call, admitted.peer);
            });
          const runStream = (call: grpc.ServerWritableStream<Buffer, Buffer>, peer: Peer) => {
            const { span, ctx } = spanFor(call, path, peer);
            void context.with(ctx, async () => {
              try {
                const request = parse(method, call.request);
                const iterable = (fn as (r: unknown, c: CallContext) => AsyncIterable<object>)(
                  request,
                  makeContext(call, path, peer),
                );
                for await (const item of iterable) {
                  if (call.cancelled) break;
                  const ok = call.write(
                    Buffer.from(
                      toBinary(method.output, create(method.output, item as Record<string, unknown>)),
                    ),
                  );
                  if (!ok) await new Promise((resolve) => call.once('drain', resolve));
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
          };
          handlers[method.localName] = stream;
        }
      }
      server.addService(definition as grpc.ServiceDefinition, handlers);
    },

    listen(address) {
      const credentials = grpc.experimental.createCertificateProviderServerCredentials(
        identity,
        identity,
        true,
      );
      return new Promise((resolve, reject) => {
        health.addToServer(server);
        server.bindAsync(address, credentials, (err, port) => {
          if (err) return reject(err);
          const host = address.slice(0, address.lastIndexOf(':'));
          resolve({ address: `${host}:${port}`, port });
        });
      });
    },

    setHealth(serviceName, serving) {
      healthNames.add(serviceName);
      health.setStatus(serviceName, serving ? 'SERVING' : 'NOT_SERVING');
    },

    shutdown({ graceMs = 10_000 } = {}) {
      // Tell health watchers first, so load balancers stop sending before we stop accepting.
      for (const name of healthNames) health.setStatus(name, 'NOT_SERVING');
      return new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          logger.warn({ graceMs }, 'grace period over; cancelling in-flight calls');
          server.forceShutdown();
          resolve();
        }, graceMs);
        timer.unref();
        server.tryShutdown(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    },
  };
}
