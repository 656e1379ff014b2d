import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { createMetrics, observeHttpRequests, routeTable } from './index.js';

/** Serves `handler` on a free loopback port for the duration of `fn`. */
async function withServer<T>(
  handler: (req: IncomingMessage, res: ServerResponse) => void,
  fn: (url: string, server: ReturnType<typeof createServer>) => Promise<T>,
): Promise<T> {
  const server = createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    return await fn(`http://127.0.0.1:${(server.address() as AddressInfo).port}`, server);
  } finally {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
}

const scrape = (metrics: ReturnType<typeof createMetrics>) =>
  withServer(
    (req, res) => metrics.handle(req, res),
    async (url) => (await fetch(url)).text(),
  );

describe('createMetrics', () => {
  it('exports counters with _total, gauges and histograms in the Prometheus text format', async () => {
    const metrics = createMetrics('test', { enabled: true });
    metrics.meter.createCounter('zenmesh_things', { description: 'things' }).add(3, { kind: 'a' });
    metrics.meter.createObservableGauge('zenmesh_level').addCallback((r) => r.observe(7));
    metrics.meter
      .createHistogram('zenmesh_wait_seconds', { advice: { explicitBucketBoundaries: [1] } })
      .record(0.5);
    const text = await scrape(metrics);
    expect(text).toContain('zenmesh_things_total{kind="a",service_name="zenmesh-test"} 3');
    expect(text).toContain('zenmesh_level{service_name="zenmesh-test"} 7');
    expect(text).toContain('zenmesh_wait_seconds_bucket{service_name="zenmesh-test",le="1"} 1');
    expect(text).toContain('target_info{service_name="zenmesh-test"} 1');
    await metrics.shutdown();
  });

  it('is a no-op meter with no scrape when disabled', async () => {
    const metrics = createMetrics('test', { enabled: false });
    metrics.meter.createCounter('zenmesh_things').add(1);
    const status = await withServer(
      (req, res) => metrics.handle(req, res),
      async (url) => (await fetch(url)).status,
    );
    expect(status).toBe(404);
  });
});

describe('routeTable', () => {
  const routeOf = routeTable(['/v1/webhooks/{sourceId}', '/healthz', '/api/v1/tenants/{tenant}/events']);

  it('maps a path to its template, never to the id in it', () => {
    expect(routeOf('/v1/webhooks/src_abc')).toBe('/v1/webhooks/{sourceId}');
    expect(routeOf('/healthz')).toBe('/healthz');
    expect(routeOf('/api/v1/tenants/acme/events')).toBe('/api/v1/tenants/{tenant}/events');
  });

  it('puts every other path, however crafted, under one label', () => {
    for (const p of ['/v1/webhooks/a/b', '/v1/webhooks/', '/secret-token-123', '/healthz/x', '/.*']) {
      expect(routeOf(p)).toBe('other');
    }
  });
});

describe('observeHttpRequests', () => {
  it('records method, route template and status of the servers it includes only', async () => {
    const metrics = createMetrics('test', { enabled: true });
    const text = await withServer(
      (req, res) => {
        res.statusCode = req.url?.startsWith('/v1/webhooks/') ? 202 : 404;
        res.end();
      },
      async (url, server) => {
        const observer = observeHttpRequests(
          metrics.meter,
          routeTable(['/v1/webhooks/{sourceId}']),
          (s) => s === server,
        );
        try {
          await fetch(`${url}/v1/webhooks/src_secretish?token=abc`, { method: 'POST' });
          await fetch(`${url}/v1/webhooks/src_other`, { method: 'POST' });
          await fetch(`${url}/nope`, { method: 'BREW' }).catch(() => undefined);
          await fetch(`${url}/nope`);
          // A server not included is not counted (the metrics listener itself, here).
          return await scrape(metrics);
        } finally {
          observer.stop();
        }
      },
    );
    expect(text).toContain(
      'zenmesh_http_request_duration_seconds_count{method="POST",route="/v1/webhooks/{sourceId}",status="202",service_name="zenmesh-test"} 2',
    );
    expect(text).toContain(
      'zenmesh_http_request_duration_seconds_count{method="GET",route="other",status="404",service_name="zenmesh-test"} 1',
    );
    expect(text).not.toMatch(/src_secretish|src_other|token=abc/);
    expect(text).not.toMatch(/route="\/metrics"|route="\/"/);
    await metrics.shutdown();
  });
});
