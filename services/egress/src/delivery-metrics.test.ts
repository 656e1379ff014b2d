import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { create } from '@bufbuild/protobuf';
import { timestampFromMs } from '@bufbuild/protobuf/wkt';
import { LeasedDeliverySchema } from '@zenmesh/proto';
import { createMetrics } from '@zenmesh/telemetry';
import { describe, expect, it } from 'vitest';
import type { AttemptResult } from './deliver.js';
import { attemptOutcome, createDeliveryMetrics } from './delivery-metrics.js';

const result = (over: Partial<AttemptResult>): AttemptResult => ({
  ok: false,
  statusCode: 0,
  error: '',
  durationMs: 100,
  retryAfterS: 0,
  ...over,
});

describe('attemptOutcome', () => {
  it('maps every attempt to one of a fixed set of outcomes', () => {
    expect(attemptOutcome(result({ ok: true, statusCode: 204 }))).toBe('success');
    expect(attemptOutcome(result({ statusCode: 410, error: 'unexpected status 410' }))).toBe('client_error');
    expect(attemptOutcome(result({ statusCode: 503, error: 'unexpected status 503' }))).toBe('server_error');
    expect(attemptOutcome(result({ statusCode: 302, error: 'unexpected status 302' }))).toBe('server_error');
    expect(attemptOutcome(result({ error: 'The operation was aborted due to timeout' }))).toBe('timeout');
    expect(
      attemptOutcome(result({ error: 'ssrf_blocked: 10.0.0.1 is private; not in the egress allow-list' })),
    ).toBe('refused_target');
    expect(attemptOutcome(result({ error: 'cannot sign: bad secret' }))).toBe('unsignable');
    expect(attemptOutcome(result({ error: 'connect ECONNREFUSED 127.0.0.1:9' }))).toBe('network_error');
  });
});

describe('createDeliveryMetrics', () => {
  it('counts attempts by outcome and records end-to-end latency of first-schedule successes only', async () => {
    const metrics = createMetrics('egress', { enabled: true });
    const now = 1_700_000_010_000;
    const recorder = createDeliveryMetrics(metrics.meter, () => now);
    const leased = (replays: number) =>
      create(LeasedDeliverySchema, {
        delivery: { id: 'dlv_1', replays },
        event: { id: 'evt_1', receivedAt: timestampFromMs(now - 3_000) },
        endpointUrl: 'https://secret-host.example/hook?token=abc',
      });
    recorder.attempt(leased(0), result({ ok: true, statusCode: 200, durationMs: 40 }));
    recorder.attempt(leased(1), result({ ok: true, statusCode: 200, durationMs: 40 }));
    recorder.attempt(leased(0), result({ statusCode: 500, error: 'unexpected status 500' }));
    const server = createServer((req, res) => metrics.handle(req, res));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const text = await (await fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}`)).text();
    server.close();
    expect(text).toContain(
      'zenmesh_delivery_attempts_total{outcome="success",service_name="zenmesh-egress"} 2',
    );
    expect(text).toContain(
      'zenmesh_delivery_attempts_total{outcome="server_error",service_name="zenmesh-egress"} 1',
    );
    expect(text).toContain(
      'zenmesh_delivery_attempt_duration_seconds_count{outcome="success",service_name="zenmesh-egress"} 2',
    );
    // One latency sample (the replay is left out), of 3 s: in the (2.5, 5] bucket.
    expect(text).toContain('zenmesh_delivery_latency_seconds_count{service_name="zenmesh-egress"} 1');
    expect(text).toContain('zenmesh_delivery_latency_seconds_sum{service_name="zenmesh-egress"} 3');
    expect(text).toContain(
      'zenmesh_delivery_latency_seconds_bucket{service_name="zenmesh-egress",le="2.5"} 0',
    );
    expect(text).not.toMatch(/dlv_1|evt_1|secret-host|token=abc/);
    await metrics.shutdown();
  });
});
