import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TLSSocket } from 'node:tls';
import { create, toBinary } from '@bufbuild/protobuf';
import * as grpc from '@grpc/grpc-js';
import { context, propagation, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import {
  type CertificateAuthority,
  createCertificateAuthority,
  issueSvidWithKey,
  spiffeIdFor,
} from '@zenmesh/pki';
import {
  DispatchRequestSchema,
  EgressService,
  Health,
  HealthCheckResponse_ServingStatus,
} from '@zenmesh/proto';
import { createLogger } from '@zenmesh/telemetry';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type CallContext,
  Code,
  createIdentityProvider,
  createMeshChannel,
  createMeshServer,
  loadTlsIdentity,
  type MeshServer,
  RpcError,
  type TlsIdentity,
} from './index.js';

const logger = createLogger('rpc-test', { level: 'silent' });
const TD = 'zenmesh.local';
const NS = 'zenmesh';

const exporter = new InMemorySpanExporter();
const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
trace.setGlobalTracerProvider(provider);
context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
propagation.setGlobalPropagator(new W3CTraceContextPropagator());

let ca: CertificateAuthority;
let foreignCa: CertificateAuthority;
const identities = new Map<string, TlsIdentity>();

async function identityFor(service: string, issuer = ca, td = TD, bundle?: string): Promise<TlsIdentity> {
  const svid = await issueSvidWithKey({
    ca: issuer,
    spiffeId: spiffeIdFor(service, { trustDomain: td, namespace: NS }),
  });
  return { cert: svid.certPem, key: svid.keyPem, ca: bundle ?? ca.certPem };
}

let server: MeshServer;
let address: string;
const seen: CallContext[] = [];
let slowMs = 0;

beforeAll(async () => {
  ca = await createCertificateAuthority({ trustDomain: TD });
  foreignCa = await createCertificateAuthority({ trustDomain: 'other.example' });
  for (const svc of ['egress', 'ingester', 'bff', 'backend']) identities.set(svc, await identityFor(svc));
  // The server trusts the foreign CA too (as in federation), so that its certificates pass the handshake
  // and the trust-domain check in the policy is what refuses them.
  const egress = identities.get('egress') as TlsIdentity;
  server = createMeshServer({
    service: 'egress',
    identity: { ...egress, ca: `${ca.certPem}\n${foreignCa.certPem}` },
    trustDomain: TD,
    namespace: NS,
    integrity: false,
    logger,
  });
  server.register(EgressService, {
    async dispatch(req, ctx) {
      seen.push(ctx);
      if (req.eventId === 'refuse') throw new RpcError(Code.FAILED_PRECONDITION, 'not_now');
      if (req.eventId === 'crash') throw new Error('secret internal detail');
      if (slowMs) await new Promise((r) => setTimeout(r, slowMs));
      return { accepted: req.eventId.startsWith('evt_') };
    },
  });
  ({ address } = await server.listen('127.0.0.1:0'));
});

afterAll(async () => {
  await server.shutdown({ graceMs: 1000 });
});

const channelAs = (identity: TlsIdentity, peer = 'egress', timeoutMs?: number) =>
  createMeshChannel({
    address,
    identity,
    peer,
    trustDomain: TD,
    namespace: NS,
    integrity: false,
    ...(timeoutMs ? { timeoutMs } : {}),
  });

const expectRpcError = async (p: Promise<unknown>, code: Code, reason?: string | RegExp) => {
  const err = await p.then(
    () => {
      throw new Error('expected the call to be refused');
    },
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(RpcError);
  expect((err as RpcError).code).toBe(code);
  if (reason !== undefined) expect((err as RpcError).reason).toMatch(reason);
  return err as RpcError;
};

describe('mesh rpc over mutual TLS', () => {
  it('serves an allowed caller and tells the handler who it is', async () => {
    const ch = channelAs(identities.get('ingester') as TlsIdentity);
    const res = await ch.client(EgressService).dispatch({ eventId: 'evt_1' });
    expect(res.accepted).toBe(true);
    expect(seen.at(-1)?.peer).toMatchObject({
      spiffeId: 'spiffe://zenmesh.local/ns/zenmesh/sa/ingester',
      service: 'ingester',
    });
    expect(seen.at(-1)?.deadline).toBeInstanceOf(Date);
    ch.close();
  });

  it('reads the peer certificate once per TLS session, not once per call', async () => {
    const ch = channelAs(identities.get('ingester') as TlsIdentity);
    const client = ch.client(EgressService);
    await client.dispatch({ eventId: 'evt_warm' });
    const original = TLSSocket.prototype.getPeerCertificate;
    let reads = 0;
    TLSSocket.prototype.getPeerCertificate = function (this: TLSSocket, ...args: [boolean?]) {
      reads++;
      return original.apply(this, args as [true]);
    } as typeof original;
    try {
      for (let i = 0; i < 20; i++) await client.dispatch({ eventId: `evt_s${i}` });
    } finally {
      TLSSocket.prototype.getPeerCertificate = original;
    }
    expect(reads).toBe(0);
    expect(seen.at(-1)?.peer.service).toBe('ingester');
    ch.close();
  });

  it('passes extra request metadata to the handler', async () => {
    const ch = channelAs(identities.get('ingester') as TlsIdentity);
    await ch
      .client(EgressService)
      .dispatch({ eventId: 'evt_md' }, { metadata: { 'x-zenmesh-user': 'alice' } });
    expect(seen.at(-1)?.header('x-zenmesh-user')).toBe('alice');
    expect(seen.at(-1)?.header('x-absent')).toBeUndefined();
    ch.close();
  });

  it('refuses a mesh identity the policy does not list: PERMISSION_DENIED spiffe_id_not_allowed', async () => {
    const ch = channelAs(identities.get('bff') as TlsIdentity);
    await expectRpcError(
      ch.client(EgressService).dispatch({ eventId: 'evt_1' }),
      Code.PERMISSION_DENIED,
      'spiffe_id_not_allowed',
    );
    expect(server.refusals.get('spiffe_id_not_allowed')).toBeGreaterThan(0);
    ch.close();
  });

  it('refuses the right service name from a foreign trust domain: PERMISSION_DENIED foreign_trust_domain', async () => {
    const foreign = await identityFor('ingester', foreignCa, 'other.example', ca.certPem);
    const ch = channelAs(foreign);
    await expectRpcError(
      ch.client(EgressService).dispatch({ eventId: 'evt_1' }),
      Code.PERMISSION_DENIED,
      'foreign_trust_domain',
    );
    ch.close();
  });

  it('refuses a client without a certificate at the handshake', async () => {
    const creds = grpc.credentials.createSsl(Buffer.from(ca.certPem), null, null, {
      checkServerIdentity: () => undefined,
    });
    const client = new grpc.Client(address, creds);
    const err = await new Promise<grpc.ServiceError>((resolve) =>
      client.makeUnaryRequest(
        '/zenmesh.v1.EgressService/Dispatch',
        (b: Buffer) => b,
        (b: Buffer) => b,
        Buffer.from(toBinary(DispatchRequestSchema, create(DispatchRequestSchema, { eventId: 'evt_1' }))),
        new grpc.Metadata(),
        { deadline: Date.now() + 3000 },
        (e) => resolve(e as grpc.ServiceError),
      ),
    );
    expect(err?.code).toBe(Code.UNAVAILABLE);
    client.close();
  });

  it('refuses a client certificate from an untrusted CA at the handshake', async () => {
    const stranger = await createCertificateAuthority({ trustDomain: TD });
    const forged = await identityFor('ingester', stranger);
    const ch = channelAs(forged, 'egress', 3000);
    await expectRpcError(ch.client(EgressService).dispatch({ eventId: 'evt_1' }), Code.UNAVAILABLE);
    ch.close();
  });

  it('refuses to talk to a server whose SPIFFE ID is not the expected one', async () => {
    const ch = channelAs(identities.get('ingester') as TlsIdentity, 'backend', 3000);
    const err = await expectRpcError(
      ch.client(EgressService).dispatch({ eventId: 'evt_1' }),
      Code.UNAVAILABLE,
    );
    expect(String((err.cause as Error)?.message ?? err.message)).toMatch(
      /sa\/egress is not the expected .*sa\/backend|UNAVAILABLE/,
    );
    ch.close();
  });

  it('answers malformed request bytes with INVALID_ARGUMENT malformed_request', async () => {
    const id = identities.get('ingester') as TlsIdentity;
    const creds = grpc.credentials.createSsl(Buffer.from(id.ca), Buffer.from(id.key), Buffer.from(id.cert), {
      checkServerIdentity: () => undefined,
    });
    const client = new grpc.Client(address, creds);
    const err = await new Promise<grpc.ServiceError>((resolve) =>
      client.makeUnaryRequest(
        '/zenmesh.v1.EgressService/Dispatch',
        (b: Buffer) => b,
        (b: Buffer) => b,
        Buffer.from([0x0a, 0xff, 0xff]),
        new grpc.Metadata(),
        { deadline: Date.now() + 3000 },
        (e) => resolve(e as grpc.ServiceError),
      ),
    );
    expect(err.code).toBe(Code.INVALID_ARGUMENT);
    expect(err.details).toBe('malformed_request');
    client.close();
  });

  it('carries a handler refusal code and reason, and hides internal errors', async () => {
    const ch = channelAs(identities.get('ingester') as TlsIdentity);
    const dispatch = ch.client(EgressService).dispatch;
    await expectRpcError(dispatch({ eventId: 'refuse' }), Code.FAILED_PRECONDITION, /^not_now$/);
    const err = await expectRpcError(dispatch({ eventId: 'crash' }), Code.INTERNAL, /^internal$/);
    expect(err.message).not.toContain('secret internal detail');
    ch.close();
  });

  it('gives every call a deadline and aborts the handler signal when it passes', async () => {
    const ch = channelAs(identities.get('ingester') as TlsIdentity);
    slowMs = 400;
    try {
      await expectRpcError(
        ch.client(EgressService).dispatch({ eventId: 'evt_slow' }, { timeoutMs: 100 }),
        Code.DEADLINE_EXCEEDED,
      );
      await new Promise((r) => setTimeout(r, 50));
      expect(seen.at(-1)?.signal.aborted).toBe(true);
    } finally {
      slowMs = 0;
    }
    ch.close();
  });

  it('propagates W3C trace context: client and server spans share one trace', async () => {
    exporter.reset();
    const ch = channelAs(identities.get('ingester') as TlsIdentity);
    const tracer = trace.getTracer('test');
    await tracer.startActiveSpan('root', async (root) => {
      await ch.client(EgressService).dispatch({ eventId: 'evt_traced' });
      root.end();
    });
    const spans = exporter.getFinishedSpans();
    const server = spans.find((s) => s.name === 'zenmesh.v1.EgressService/Dispatch' && s.kind === 1);
    const client = spans.find((s) => s.name === 'zenmesh.v1.EgressService/Dispatch' && s.kind === 2);
    const root = spans.find((s) => s.name === 'root');
    expect(server && client && root).toBeTruthy();
    expect(server?.spanContext().traceId).toBe(root?.spanContext().traceId);
    expect(server?.parentSpanContext?.spanId).toBe(client?.spanContext().spanId);
    ch.close();
  });

  it('serves grpc.health.v1 to any mesh identity', async () => {
    const ch = channelAs(identities.get('bff') as TlsIdentity);
    const res = await ch.client(Health).check({ service: '' });
    expect(res.status).toBe(HealthCheckResponse_ServingStatus.SERVING);
    ch.close();
  });

  it("uses the identity provider's current certificate for new connections", async () => {
    const first = await identityFor('ingester');
    const provider = createIdentityProvider(first);
    const ch = createMeshChannel({
      address,
      identity: provider,
      peer: 'egress',
      trustDomain: TD,
      namespace: NS,
      integrity: false,
    });
    await ch.client(EgressService).dispatch({ eventId: 'evt_a' });
    // A different identity the policy refuses: if the new certificate is used, the refusal proves it.
    provider.update(identities.get('bff') as TlsIdentity);
    ch.close();
    const ch2 = createMeshChannel({
      address,
      identity: provider,
      peer: 'egress',
      trustDomain: TD,
      namespace: NS,
      integrity: false,
    });
    await expectRpcError(ch2.client(EgressService).dispatch({ eventId: 'evt_b' }), Code.PERMISSION_DENIED);
    ch2.close();
  });
});

describe('per-call peer checks (verifyPeer)', () => {
  it('a server refuses a caller its check refuses, UNAUTHENTICATED with the reason, and counts it', async () => {
    const refused = new Set<string>();
    const guarded = createMeshServer({
      service: 'egress',
      identity: identities.get('egress') as TlsIdentity,
      trustDomain: TD,
      namespace: NS,
      integrity: false,
      logger,
      verifyPeer: (cert) =>
        cert && refused.has(cert.fingerprint256) ? { ok: false, reason: 'svid_revoked' } : { ok: true },
    });
    guarded.register(EgressService, { dispatch: async () => ({ accepted: true }) });
    const at = (await guarded.listen('127.0.0.1:0')).address;
    const ch = createMeshChannel({
      address: at,
      identity: identities.get('ingester') as TlsIdentity,
      peer: 'egress',
      trustDomain: TD,
      namespace: NS,
      integrity: false,
    });
    await ch.client(EgressService).dispatch({ eventId: 'evt_a' });
    // Refused on the same, already open connection: the check runs per call, not per handshake.
    const { X509Certificate } = await import('node:crypto');
    refused.add(new X509Certificate((identities.get('ingester') as TlsIdentity).cert).fingerprint256);
    const err = await expectRpcError(
      ch.client(EgressService).dispatch({ eventId: 'evt_b' }),
      Code.UNAUTHENTICATED,
    );
    expect(err.reason).toBe('svid_revoked');
    expect(guarded.refusals.get('svid_revoked')).toBe(1);
    ch.close();
    await guarded.shutdown({ graceMs: 100 });
  });

  it('a channel refuses a server its check refuses (the check is an explicit option, never a process default)', async () => {
    const refusing = createMeshChannel({
      address,
      identity: identities.get('ingester') as TlsIdentity,
      peer: 'egress',
      trustDomain: TD,
      namespace: NS,
      integrity: false,
      timeoutMs: 3000,
      verifyPeer: () => ({ ok: false, reason: 'svid_revoked', detail: 'test' }),
    });
    await expectRpcError(refusing.client(EgressService).dispatch({ eventId: 'evt_1' }), Code.UNAVAILABLE);
    refusing.close();
    const ok = channelAs(identities.get('ingester') as TlsIdentity, 'egress', 3000);
    await ok.client(EgressService).dispatch({ eventId: 'evt_2' });
    ok.close();
  });

  it('loadTlsIdentity follows its files: a rewritten certificate is used on the next connection', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'zm-rpc-files-'));
    const files = { cert: join(dir, 'c.pem'), key: join(dir, 'k.pem'), ca: join(dir, 'b.pem') };
    const write = (id: TlsIdentity) => {
      writeFileSync(files.key, id.key);
      writeFileSync(files.cert, id.cert);
      writeFileSync(files.ca, id.ca);
    };
    write(identities.get('ingester') as TlsIdentity);
    const live = loadTlsIdentity(files, { followMs: 50 });
    try {
      const first = live.cert;
      write(identities.get('bff') as TlsIdentity);
      const deadline = Date.now() + 20_000;
      while (live.cert === first) {
        if (Date.now() > deadline) throw new Error('the rewritten files were not picked up');
        await new Promise((r) => setTimeout(r, 20));
      }
      // The policy refuses sa/bff on Dispatch: the refusal proves the new certificate was presented.
      const ch = createMeshChannel({
        address,
        identity: live,
        peer: 'egress',
        trustDomain: TD,
        namespace: NS,
        integrity: false,
      });
      await expectRpcError(ch.client(EgressService).dispatch({ eventId: 'evt_c' }), Code.PERMISSION_DENIED);
      ch.close();
    } finally {
      live.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('graceful shutdown', () => {
  it('lets an in-flight call finish, then refuses new ones', async () => {
    const egress = identities.get('egress') as TlsIdentity;
    const s = createMeshServer({
      service: 'egress',
      identity: egress,
      trustDomain: TD,
      namespace: NS,
      integrity: false,
      logger,
    });
    let release: () => void = () => {};
    let entered: () => void = () => {};
    const inHandler = new Promise<void>((resolve) => {
      entered = resolve;
    });
    s.register(EgressService, {
      dispatch: () =>
        new Promise((resolve) => {
          release = () => resolve({ accepted: true });
          entered();
        }),
    });
    const { address: addr } = await s.listen('127.0.0.1:0');
    const ch = createMeshChannel({
      address: addr,
      identity: identities.get('ingester') as TlsIdentity,
      peer: 'egress',
      trustDomain: TD,
      namespace: NS,
      integrity: false,
      timeoutMs: 3000,
    });
    const inflight = ch.client(EgressService).dispatch({ eventId: 'evt_1' });
    // Shut down only once the call is really in flight (its handler runs), however slow the machine.
    await inHandler;
    const stopped = s.shutdown({ graceMs: 2000 });
    setTimeout(() => release(), 150);
    await expect(inflight).resolves.toMatchObject({ accepted: true });
    await stopped;
    await expectRpcError(
      ch.client(EgressService).dispatch({ eventId: 'evt_2' }, { timeoutMs: 500 }),
      Code.UNAVAILABLE,
    );
    ch.close();
  });
});
