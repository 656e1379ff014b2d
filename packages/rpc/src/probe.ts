import type { PeerCertificate } from 'node:tls';
import { create, type DescMessage, toBinary } from '@bufbuild/protobuf';
import type { GenService, GenServiceMethods } from '@bufbuild/protobuf/codegenv2';
import * as grpc from '@grpc/grpc-js';
import { spiffeIdFromCertificate } from '@zenmesh/pki';
import type { Code } from './errors.js';

/** Where a probe goes, and with which client certificate (none at all is a probe too). */
export interface ProbeTarget {
  /** host:port. */
  address: string;
  /** SPIFFE ID the server's certificate must carry. */
  serverId: string;
  /** PEM bundle the server's certificate is checked against. */
  trustBundle: string;
  /** The client certificate and key to present; absent = no client certificate. */
  client?: { cert: string; key: string };
  /** SNI; default `probe.invalid`. */
  serverName?: string;
}

export interface ProbeResult {
  code: Code;
  /** The status details: for a refusal, its reason code. */
  details: string;
  /** The exact response bytes, when the call succeeded. */
  reply: Buffer | undefined;
  /** Trailing metadata (first value of each key). */
  trailers: Record<string, string>;
}

/** A private connection for raw probe calls: every call on it reuses one handshake until `close()`. */
export interface ProbeSession {
  call(
    path: string,
    body: Uint8Array,
    metadata?: Record<string, string>,
    timeoutMs?: number,
  ): Promise<ProbeResult>;
  close(): void;
}

/**
 * Raw unary calls over one connection, with exactly the bytes and metadata given: no signing, no checks beyond
 * the server's SPIFFE ID. For probes that need a connection to outlive something (a certificate that expires
 * while it stays open); `probeCall` is the one-call form.
 */
export function createProbeSession(target: ProbeTarget): ProbeSession {
  const checkServerIdentity = (_host: string, cert: PeerCertificate): Error | undefined => {
    try {
      const id = spiffeIdFromCertificate(cert);
      return id === target.serverId ? undefined : new Error(`server is ${id}, not ${target.serverId}`);
    } catch (err) {
      return err instanceof Error ? err : new Error(String(err));
    }
  };
  const creds = grpc.credentials.createSsl(
    Buffer.from(target.trustBundle),
    target.client ? Buffer.from(target.client.key) : null,
    target.client ? Buffer.from(target.client.cert) : null,
    { checkServerIdentity },
  );
  const client = new grpc.Client(target.address, creds, {
    'grpc.ssl_target_name_override': target.serverName ?? 'probe.invalid',
    // A private connection per probe: probes with different certificates must never share a handshake.
    'grpc.use_local_subchannel_pool': 1,
  });
  return {
    call: (path, body, metadata = {}, timeoutMs = 3000) => {
      const md = new grpc.Metadata();
      for (const [k, v] of Object.entries(metadata)) md.set(k, v);
      return new Promise((resolve) => {
        let reply: Buffer | undefined;
        let error: grpc.ServiceError | null = null;
        const call = client.makeUnaryRequest<Buffer, Buffer>(
          path,
          (b) => b,
          (b) => b,
          Buffer.from(body),
          md,
          { deadline: Date.now() + timeoutMs },
          (err, value) => {
            error = err;
            reply = value ?? undefined;
          },
        );
        call.on('status', (status: grpc.StatusObject) => {
          const trailers: Record<string, string> = {};
          for (const [k, v] of Object.entries(status.metadata.getMap())) trailers[k] = String(v);
          resolve({
            code: error ? error.code : status.code,
            details: error ? error.details : status.details,
            reply: error ? undefined : reply,
            trailers,
          });
        });
      });
    },
    close: () => client.close(),
  };
}

/**
 * One raw unary call with exactly the bytes and metadata given: no signing, no checks beyond the server's
 * SPIFFE ID. For security probes (`zenmesh verify`) and tests that replay or tamper with captured requests;
 * services use `createMeshChannel`.
 */
export function probeCall(
  target: ProbeTarget,
  path: string,
  body: Uint8Array,
  metadata: Record<string, string> = {},
  timeoutMs = 3000,
): Promise<ProbeResult> {
  const session = createProbeSession(target);
  return session.call(path, body, metadata, timeoutMs).finally(() => session.close());
}

/** The method path and serialized bytes of one request, for `probeCall`. */
export function encodeRequest<S extends GenServiceMethods>(
  service: GenService<S>,
  method: keyof S & string,
  init: Record<string, unknown>,
): { path: string; body: Buffer } {
  const desc = service.method[method];
  if (!desc) throw new TypeError(`encodeRequest: no method ${method} on ${service.typeName}`);
  const input = desc.input as DescMessage;
  return {
    path: `/${service.typeName}/${desc.name}`,
    body: Buffer.from(toBinary(input, create(input, init))),
  };
}
