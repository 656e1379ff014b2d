import { context, propagation, ROOT_CONTEXT, SpanKind, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import { createCertificateAuthority, issueSvidWithKey, spiffeIdFor } from '@zenmesh/pki';
import { EgressService } from '@zenmesh/proto';
import {
  Code,
  createMeshChannel,
  createMeshServer,
  type MeshChannel,
  type MeshServer,
  type TlsIdentity,
} from '@zenmesh/rpc';
import { createLogger } from '@zenmesh/telemetry';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDeliveryEngine, type DeliveryEngine } from './delivery-engine.js';
import { createEgressService } from './egress-service.js';
import { createFakeBackend, leased, secret, startTarget } from './test-fixtures.js';

// The targets here listen on 127.0.0.1, which the SSRF policy refuses unless allowed.
const LOOPBACK = { allow: ['127.0.0.0/8'] };

const exporter = new InMemorySpanExporter();
context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
propagation.setGlobalPropagator(new W3CTraceContextPropagator());
trace.setGlobalTracerProvider(
  new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] }),
);

const logger = createLogger('egress', { level: 'silent' });
const mesh = { trustDomain: 'zenmesh.local', namespace: 'zenmesh' };

let backend: ReturnType<typeof createFakeBackend>;
let target: Awaited<ReturnType<typeof startTarget>>;
let engine: DeliveryEngine;
let server: MeshServer;
const channels: MeshChannel[] = [];
const identities = new Map<string, TlsIdentity>();

const channelAs = (service: string, address: string): MeshChannel => {
  const channel = createMeshChannel({
    integrity: false,
    ...mesh,
    identity: identities.get(service) as TlsIdentity,
    address,
    peer: 'egress',
  });
  channels.push(channel);
  return channel;
};

let address: string;

beforeAll(async () => {
  const ca = await createCertificateAuthority({ trustDomain: mesh.trustDomain });
  for (const service of ['egress', 'ingester', 'bff']) {
    const svid = await issueSvidWithKey({ ca, spiffeId: spiffeIdFor(service, mesh) });
    identities.set(service, { cert: svid.certPem, key: svid.keyPem, ca: ca.certPem });
  }
  backend = createFakeBackend();
  target = await startTarget((res) => res.writeHead(200).end());
  // A long poll interval: within these tests only a Dispatch nudge can start a delivery.
  engine = createDeliveryEngine({
    deliveries: backend.client,
    logger,
    pollMs: 60_000,
    targetPolicy: LOOPBACK,
  });
  server = createMeshServer({
    integrity: false,
    ...mesh,
    service: 'egress',
    identity: identities.get('egress') as TlsIdentity,
    logger,
  });
  server.register(EgressService, createEgressService(engine));
  ({ address } = await server.listen('127.0.0.1:0'));
});

afterAll(async () => {
  for (const channel of channels) channel.close();
  await engine.stop(1_000);
  await server.shutdown({ graceMs: 1_000 });
  await target.close();
});

describe('EgressService over mutual TLS', () => {
  it('delivers on a Dispatch from the ingester, in the ingester trace', async () => {
    const item = leased(target.url, [secret()]);
    backend.queue.push(item);
    const egress = channelAs('ingester', address).client(EgressService);
    const root = trace.getTracer('test').startSpan('POST /v1/webhooks/{sourceId}', { kind: SpanKind.SERVER });
    const answer = await context.with(trace.setSpan(ROOT_CONTEXT, root), () =>
      egress.dispatch({ eventId: item.event?.id ?? '' }),
    );
    root.end();
    expect(answer.accepted).toBe(true);
    await expect.poll(() => backend.reports.length).toBe(1);
    expect(backend.reports[0]?.statusCode).toBe(200);

    const traceId = root.spanContext().traceId;
    const traceparent = target.received[0]?.headers.traceparent as string;
    expect(traceparent.split('-')[1]).toBe(traceId);
    await expect.poll(() => exporter.getFinishedSpans().some((s) => s.name === 'webhook.deliver')).toBe(true);
    const spans = exporter.getFinishedSpans();
    const deliver = spans.find((s) => s.name === 'webhook.deliver');
    const dispatch = spans.find((s) => s.name === 'egress.dispatch');
    expect(deliver?.spanContext().traceId).toBe(traceId);
    expect(deliver?.parentSpanContext?.spanId).toBe(dispatch?.spanContext().spanId);
    // The dispatch span hangs under the rpc server span of the Dispatch call, not directly under the root.
    expect(dispatch?.parentSpanContext?.spanId).not.toBe(root.spanContext().spanId);
    expect(dispatch?.spanContext().traceId).toBe(traceId);
  });

  it('refuses Dispatch from a workload the policy does not list', async () => {
    const egress = channelAs('bff', address).client(EgressService);
    await expect(
      egress.dispatch({ eventId: leased(target.url, [secret()]).event?.id ?? '' }),
    ).rejects.toMatchObject({
      code: Code.PERMISSION_DENIED,
    });
  });

  it('refuses a malformed event id with INVALID_ARGUMENT', async () => {
    const egress = channelAs('ingester', address).client(EgressService);
    await expect(egress.dispatch({ eventId: 'evt_nope' })).rejects.toMatchObject({
      code: Code.INVALID_ARGUMENT,
      reason: 'invalid_event_id',
    });
  });
});
