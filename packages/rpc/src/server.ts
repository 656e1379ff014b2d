import type { GenService, GenServiceMethods } from '@bufbuild/protobuf/codegenv2';
import * as grpc from '@grpc/grpc-js';
import { type Meter, metrics } from '@opentelemetry/api';
import { spiffeIdFromCertificate } from '@zenmesh/pki';
import type { Logger } from '@zenmesh/telemetry';
import { HealthImplementation } from 'grpc-health-check';
import { type AdmissionVerdict, createAdmission } from './admission.js';
import { toIdentityProvider } from './certificate-provider.js';
import { Code } from './errors.js';
import { INTEGRITY_METADATA, type SignedCall, signResponse } from './message-integrity.js';
import { MESH_POLICY, type PolicyTable } from './policy.js';
import { type AnyServerCall, createCallRunner, type OutcomeTrailer, serviceError } from './server-calls.js';
import { sessionPeerCertificate } from './session-peer.js';
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
  /** Where the `zenmesh.rpc.refusals` counter is recorded (the process's meter); else the global API's. */
  meter?: Meter;
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

/**
 * A gRPC server that accepts only mutual TLS with certificates chaining to the trust bundle and runs every
 * call through the admission core (`admission.ts`: peer check, SPIFFE ID against the policy table, message
 * integrity) before its handler gets a typed request and the caller's identity. This file only adapts grpc-js
 * to that core: requests are deserialised here, not by grpc-js, so the exact received bytes stay available
 * for the HMAC, and each refusal becomes a status, a log line and a counter.
 */
export function createMeshServer(options: MeshServerOptions): MeshServer {
  const { logger, maxConnectionAgeMs } = options;
  const identity = toIdentityProvider(options.identity);
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
  // Our own SPIFFE ID, the receiver of every request's pair key; read from the current certificate.
  let selfCache = { cert: '', id: '' };
  const selfId = () => {
    const cert = identity.current().cert;
    if (selfCache.cert !== cert) selfCache = { cert, id: spiffeIdFromCertificate(cert) };
    return selfCache.id;
  };
  const admission = createAdmission({
    selfId,
    trustDomain: options.trustDomain,
    namespace: options.namespace,
    policy: options.policy ?? MESH_POLICY,
    verifyPeer: options.verifyPeer,
    integrity: options.integrity,
  });
  const runner = createCallRunner({ service: options.service, logger });
  const health = new HealthImplementation({ '': 'SERVING' });
  const healthNames = new Set<string>(['']);
  const refusals = new Map<string, number>();
  const refusalCounter = (options.meter ?? metrics.getMeter('@zenmesh/rpc')).createCounter(
    'zenmesh.rpc.refusals',
    { description: 'RPCs refused before reaching a handler, by reason' },
  );

  /** The call as the admission core sees it, and its verdict as a grpc-js error when refused. */
  const admit = async (call: AnyServerCall, path: string) => {
    const verdict = await admission.admit({
      method: path,
      peer: sessionPeerCertificate(call),
      metadata: (name) => {
        const value = call.metadata.get(name)[0];
        return value === undefined ? undefined : String(value);
      },
      metadataValues: (name) => call.metadata.get(name).map(String),
      body: call.request,
    });
    if (!verdict.ok) return refuse(verdict, path);
    return verdict;
  };

  const refuse = (verdict: Extract<AdmissionVerdict, { ok: false }>, path: string): grpc.ServiceError => {
    const { reason, caller, detail } = verdict;
    refusals.set(reason, (refusals.get(reason) ?? 0) + 1);
    try {
      refusalCounter.add(1, { reason, 'rpc.method': path, 'zenmesh.service': options.service });
    } catch {
      // Telemetry never throws into the request path.
    }
    if (verdict.cause !== undefined) {
      logger.error({ rpc: path, err: verdict.cause }, 'nonce store unavailable; refusing (fail closed)');
    }
    logger.warn(
      { rpc: path, reason, peer: caller?.spiffeId ?? null, ...(detail ? { detail } : {}) },
      'rpc refused',
    );
    const error = serviceError(Code[verdict.status], reason);
    const trailer = trailerFor(path, verdict.replyTo)({ code: error.code, reason });
    if (trailer) error.metadata = trailer;
    return error;
  };

  /**
   * Trailing metadata signing the outcome of a call (a unary answer over its exact bytes, or an error status
   * over its code and reason), bound to the request's key version and nonce.
   */
  const trailerFor =
    (path: string, signed: SignedCall | undefined): OutcomeTrailer =>
    (outcome) => {
      const signature = integrity && signed ? signResponse(integrity, path, signed, outcome) : undefined;
      if (signature === undefined) return undefined;
      const trailer = new grpc.Metadata();
      trailer.set(INTEGRITY_METADATA.responseSignature, signature);
      return trailer;
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
        const handler = fn as (request: unknown, ctx: CallContext) => never;
        handlers[method.localName] = streaming
          ? (((call) =>
              void admit(call, path).then((v) =>
                v instanceof Error
                  ? call.destroy(v)
                  : runner.stream(method, path, handler, call, v, trailerFor(path, v.signed)),
              )) satisfies grpc.handleServerStreamingCall<Buffer, Buffer>)
          : (((call, callback) =>
              void admit(call, path).then((v) =>
                v instanceof Error
                  ? callback(v)
                  : runner.unary(method, path, handler, call, callback, v, trailerFor(path, v.signed)),
              )) satisfies grpc.handleUnaryCall<Buffer, Buffer>);
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
