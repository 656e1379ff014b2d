import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createMetrics } from '@zenmesh/telemetry';
import { describe, expect, it } from 'vitest';
import { closeHttp, observeSvidExpiry, startMetricsServer } from './index.js';

/** A throwaway self-signed certificate valid for `days` from now (openssl, as the pki tests use). */
const certValidFor = (days: number): string => {
  const dir = mkdtempSync(join(tmpdir(), 'zm-svid-metrics-'));
  const args = ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
  args.push(
    '-subj',
    '/CN=t',
    '-days',
    String(days),
    '-keyout',
    join(dir, 'k.pem'),
    '-out',
    join(dir, 'c.pem'),
  );
  execFileSync('openssl', args, { stdio: 'ignore' });
  return readFileSync(join(dir, 'c.pem'), 'utf8');
};

describe('startMetricsServer', () => {
  it('answers GET /metrics only: 404 elsewhere, 405 for other methods', async () => {
    const metrics = createMetrics('test', { enabled: true });
    metrics.meter.createCounter('zenmesh_probe').add(1);
    const served = await startMetricsServer(metrics, '127.0.0.1:0');
    try {
      expect(served.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
      const ok = await fetch(served.url);
      expect(ok.status).toBe(200);
      expect(await ok.text()).toContain('zenmesh_probe_total{service_name="zenmesh-test"} 1');
      expect((await fetch(served.url.replace('/metrics', '/'))).status).toBe(404);
      expect((await fetch(`${served.url}/../admin`)).status).toBe(404);
      const post = await fetch(served.url, { method: 'POST', body: 'x' });
      expect(post.status).toBe(405);
      expect(post.headers.get('allow')).toBe('GET, HEAD');
    } finally {
      await closeHttp(served.server);
      await metrics.shutdown();
    }
  });

  it('refuses a malformed listen address', async () => {
    const metrics = createMetrics('test', { enabled: true });
    await expect(startMetricsServer(metrics, 'nope')).rejects.toThrow(/expected host:port/);
  });
});

describe('observeSvidExpiry', () => {
  it('reports seconds to the current certificate’s expiry and follows a renewal', async () => {
    const metrics = createMetrics('test', { enabled: true });
    let current = certValidFor(1);
    observeSvidExpiry(metrics.meter, () => current);
    const served = await startMetricsServer(metrics, '127.0.0.1:0');
    const value = async () => {
      const text = await (await fetch(served.url)).text();
      return Number(/^zenmesh_svid_expiry_seconds\{[^}]*\} (-?\d+)$/m.exec(text)?.[1]);
    };
    try {
      const day = await value();
      expect(day).toBeGreaterThan(86_400 - 120);
      expect(day).toBeLessThanOrEqual(86_400 + 5);
      current = certValidFor(2);
      expect(await value()).toBeGreaterThan(2 * 86_400 - 120);
    } finally {
      await closeHttp(served.server);
      await metrics.shutdown();
    }
  });
});
