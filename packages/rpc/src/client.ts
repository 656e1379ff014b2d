import { create, type DescMethod, fromBinary, toBinary } from '@bufbuild/protobuf';
import type { GenService, GenServiceMethods } from '@bufbuild/protobuf/codegenv2';
import * as grpc from '@grpc/grpc-js';
import { context, propagation, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import { parseSpiffeId, spiffeIdFor, spiffeIdFromCertificate } from '@zenmesh/pki';
import { createCallSigner } from './call-signer.js';
import { toIdentityProvider } from './certificate-provider.js';
import { Code, RpcError } from './errors.js';
import { INTEGRITY_METADATA, type SignedCall } from './message-integrity.js';
import { createServerIdentityCheck } from './server-identity-check.js';
import { metadataSetter } from './trace-context.js';
import type { CallOptions, MeshTransport, ServiceClient } from './types.js';

export interface MeshChannelOptions extends MeshTransport {
  /** host:port of the server. */
  address: string;
  /** Service account name the server's certificate must carry (`sa/<peer>`), e.g. 'backend'. */
  peer: string;
  /** Default deadline of every call. Default 5 s; no call is ever made without one. */
  timeoutMs?: number;
}

export interface MeshChannel {
  client<S extends GenServiceMethods>(service: GenService<S>): ServiceClient<S>;
  /** Resolves once connected (or rejects after timeoutMs). */
  waitForReady(timeoutMs?: number): Promise<void>;
  close(): void;
  readonly expectedServerId: string;
}

const passThrough = (value: Buffer) => value;

/**
 * One mutual-TLS channel to one mesh server: a thin grpc-js adapter over `server-identity-check.ts` (the
 * server is authenticated by its SPIFFE ID, not its host name) and `call-signer.ts` (every request signed
 * over its exact bytes, every unary response verified before it is parsed).
 */
export function createMeshChannel(options: MeshChannelOptions): MeshChannel {
  const expectedServerId = spiffeIdFor(options.peer, {
    trustDomain: options.trustDomain,
    namespace: options.namespace,
  });
  parseSpiffeId(expectedServerId);
  const identity = toIdentityProvider(options.identity);
  const checkServerIdentity = createServerIdentityCheck(expectedServerId, options.verifyPeer);
  const credentials = grpc.experimental.createCertificateProviderChannelCredentials(identity, identity, {
    checkServerIdentity,
  });
  const client = new grpc.Client(options.address, credentials, {
    // SNI carries a name, never an IP literal (RFC 6066 §3; Node warns DEP0123). Identity is still checked
    // by SPIFFE ID in checkServerIdentity above, which ignores the host name.
    'grpc.ssl_target_name_override': `${options.peer}.${options.namespace}.${options.trustDomain}`,
    // Keep idle connections healthy and notice dead peers quickly on loopback and in clusters alike.
    'grpc.keepalive_time_ms': 30_000,
    'grpc.keepalive_timeout_ms': 10_000,
  });
  const defaultTimeout = options.timeoutMs ?? 5_000;
  const tracer = trace.getTracer('@zenmesh/rpc');
  const signer = createCallSigner(options.integrity);
  // Our own SPIFFE ID goes into every signature; read from the current certificate (it may be renewed).
  let callerCache = { cert: '', id: '' };
  const callerId = () => {
    const cert = identity.current().cert;
    if (callerCache.cert !== cert) callerCache = { cert, id: spiffeIdFromCertificate(cert) };
    return callerCache.id;
  };

  const prepare = (
    method: DescMethod,
    path: string,
    request: object,
    callOptions: CallOptions | undefined,
  ) => {
    const span = tracer.startSpan(path.slice(1), {
      kind: SpanKind.CLIENT,
      attributes: { 'rpc.system': 'grpc', 'rpc.method': path, 'zenmesh.peer': expectedServerId },
    });
    const metadata = new grpc.Metadata();
    const extra = callOptions?.metadata ?? {};
    for (const [key, value] of Object.entries(extra)) metadata.set(key, value);
    // Trace context is observability only (a span's parent, never a decision), so it is not covered.
    propagation.inject(trace.setSpan(context.active(), span), metadata, metadataSetter);
    // Serialised exactly once: these bytes are what goes on the wire, and what the HMAC covers.
    const bytes = Buffer.from(
      toBinary(method.input, create(method.input, request as Record<string, unknown>)),
    );
    // Every metadata entry the caller adds (a forwarded `authorization`, …) is covered by the signature.
    const signing = signer.sign(path, callerId, expectedServerId, bytes, extra);
    if (signing) for (const [key, value] of Object.entries(signing.metadata)) metadata.set(key, value);
    const signature = signing?.signed;
    const deadline = Date.now() + (callOptions?.timeoutMs ?? defaultTimeout);
    return { span, metadata, bytes, deadline, signature };
  };

  /** A unary response is parsed only once its signature over the exact received bytes is verified. */
  const checkResponse = (
    path: string,
    signature: SignedCall | undefined,
    reply: Buffer,
    trailers: grpc.Metadata | undefined,
  ): RpcError | undefined => {
    const given = trailers?.get(INTEGRITY_METADATA.responseSignature)[0];
    const refusal = signer.checkResponse(
      path,
      signature,
      reply,
      given === undefined ? undefined : String(given),
    );
    return refusal === undefined ? undefined : new RpcError(Code.UNAUTHENTICATED, refusal);
  };

  /**
   * A server's error status, believed only when its signature verifies (over code and reason, bound to the
   * request): a status forged or altered on the way (a fake ALREADY_EXISTS would make a caller drop work)
   * becomes UNAUTHENTICATED `unsigned_error_reply` / `bad_error_signature`, the original kept as `cause`.
   */
  const toRpcError = (path: string, signature: SignedCall | undefined, err: grpc.ServiceError): RpcError => {
    const given = err.metadata?.get(INTEGRITY_METADATA.responseSignature)[0];
    const refusal = signer.checkStatus(
      path,
      signature,
      { code: err.code, reason: err.details },
      given === undefined ? undefined : String(given),
    );
    if (refusal) return new RpcError(Code.UNAUTHENTICATED, refusal, { cause: err });
    return new RpcError(err.code, err.details || Code[err.code] || 'error', { cause: err });
  };

  const unary = (method: DescMethod, path: string) => (request: object, callOptions?: CallOptions) => {
    let prepared: ReturnType<typeof prepare>;
    try {
      prepared = prepare(method, path, request, callOptions);
    } catch (err) {
      return Promise.reject(err);
    }
    const { span, metadata, bytes, deadline, signature } = prepared;
    return new Promise((resolve, reject) => {
      let outcome: { err: grpc.ServiceError | null; reply: Buffer | undefined } | undefined;
      const finish = (trailers: grpc.Metadata | undefined) => {
        if (!outcome) return;
        const { err, reply } = outcome;
        outcome = undefined;
        callOptions?.signal?.removeEventListener('abort', onAbort);
        if (err) {
          span.setStatus({ code: SpanStatusCode.ERROR, message: err.details });
          span.setAttribute('rpc.grpc.status_code', err.code);
          span.end();
          return reject(toRpcError(path, signature, err));
        }
        const body = reply ?? Buffer.alloc(0);
        const refused = checkResponse(path, signature, body, trailers);
        if (refused) {
          span.setStatus({ code: SpanStatusCode.ERROR, message: refused.reason });
          span.end();
          return reject(refused);
        }
        span.end();
        try {
          resolve(fromBinary(method.output, body));
        } catch (parseErr) {
          reject(new RpcError(Code.INTERNAL, 'malformed_response', { cause: parseErr }));
        }
      };
      const call = client.makeUnaryRequest<Buffer, Buffer>(
        path,
        passThrough,
        passThrough,
        bytes,
        metadata,
        { deadline },
        (err, reply) => {
          // grpc-js calls back first, then emits 'status' with the trailers in the same turn.
          outcome = { err, reply };
        },
      );
      call.on('status', (status: grpc.StatusObject) => finish(status.metadata));
      const onAbort = () => call.cancel();
      if (callOptions?.signal?.aborted) call.cancel();
      callOptions?.signal?.addEventListener('abort', onAbort, { once: true });
    });
  };

  const serverStream = (method: DescMethod, path: string) =>
    async function* (request: object, callOptions?: CallOptions) {
      const { span, metadata, bytes, signature } = prepare(method, path, request, callOptions);
      // Streams are long-lived: the deadline applies only when asked for explicitly.
      const callOpts: grpc.CallOptions = callOptions?.timeoutMs
        ? { deadline: Date.now() + callOptions.timeoutMs }
        : {};
      const call = client.makeServerStreamRequest<Buffer, Buffer>(
        path,
        passThrough,
        passThrough,
        bytes,
        metadata,
        callOpts,
      );
      const onAbort = () => call.cancel();
      callOptions?.signal?.addEventListener('abort', onAbort, { once: true });
      try {
        for await (const chunk of call as AsyncIterable<Buffer>) yield fromBinary(method.output, chunk);
        span.end();
      } catch (err) {
        span.setStatus({ code: SpanStatusCode.ERROR });
        span.end();
        throw (err as grpc.ServiceError).code !== undefined
          ? toRpcError(path, signature, err as grpc.ServiceError)
          : err;
      } finally {
        callOptions?.signal?.removeEventListener('abort', onAbort);
        call.cancel();
      }
    };

  return {
    expectedServerId,
    client<S extends GenServiceMethods>(service: GenService<S>) {
      const out: Record<string, unknown> = {};
      for (const method of service.methods) {
        const path = `/${service.typeName}/${method.name}`;
        if (method.methodKind === 'unary') out[method.localName] = unary(method, path);
        else if (method.methodKind === 'server_streaming') out[method.localName] = serverStream(method, path);
      }
      return out as ServiceClient<S>;
    },
    waitForReady(timeoutMs = defaultTimeout) {
      return new Promise((resolve, reject) =>
        client.waitForReady(Date.now() + timeoutMs, (err) => (err ? reject(err) : resolve())),
      );
    },
    close: () => client.close(),
  };
}
