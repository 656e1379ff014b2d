import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseRefusals, scrapeRefusals } from './refusal-metrics.js';

const EXPOSITION = `# HELP zenmesh_ingest_refusals_total Webhooks refused by the ingester, by reason
# TYPE zenmesh_ingest_refusals_total counter
zenmesh_ingest_refusals_total{reason="signature_mismatch"} 3
zenmesh_ingest_refusals_total{reason="rate_limited"} 1 1733300000000
zenmesh_rpc_refusals_total{reason="replayed_nonce",rpc_method="/zenmesh.v1.EgressService/Dispatch",zenmesh_service="egress"} 2
zenmesh_rpc_refusals_total{rpc_method="/x",reason="replayed_nonce",zenmesh_service="backend"} 5
zenmesh_delivery_attempts_total{outcome="success"} 9
zenmesh_ingest_refusals_total{reason="<script>alert(1)</script>"} 7
zenmesh_ingest_refusals_total{reason="negative"} -1
zenmesh_ingest_refusals_total{reason="broken} 4
`;

describe('refusals by reason from Prometheus text', () => {
  it('sums each counter by reason and ignores other metrics, malformed lines and unexpected reasons', () => {
    const sums = { ingest: {}, rpc: {} };
    parseRefusals(EXPOSITION, sums);
    parseRefusals('zenmesh_ingest_refusals_total{reason="signature_mismatch"} 2\n', sums);
    expect(sums).toEqual({
      ingest: { signature_mismatch: 5, rate_limited: 1 },
      rpc: { replayed_nonce: 7 },
    });
  });
});

describe('scrapeRefusals', () => {
  const server = createServer((req, res) => {
    if (req.url === '/slow') return; // never answers
    if (req.url === '/metrics') res.end(EXPOSITION);
    else res.writeHead(500).end();
  });
  let base = '';
  beforeAll(async () => {
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });

  it('names every target that did not answer instead of silently dropping its figures', async () => {
    const snap = await scrapeRefusals([
      `${base}/metrics`,
      `${base}/broken`,
      `${base}/slow`,
      'http://127.0.0.1:1/',
    ]);
    expect(snap.ingest).toEqual({ signature_mismatch: 3, rate_limited: 1 });
    expect(snap.targets).toEqual([
      { url: `${base}/metrics`, ok: true },
      { url: `${base}/broken`, ok: false, error: 'HTTP 500' },
      { url: `${base}/slow`, ok: false, error: 'timeout' },
      { url: 'http://127.0.0.1:1/', ok: false, error: 'unreachable' },
    ]);
  }, 10_000);
});
