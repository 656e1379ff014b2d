import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { probeEdgeBudgets } from './edge-budget-probe.js';

// The probe's verdicts against faces that answer like ours, and like ours with a budget missing or taken
// after the refusal; the live run against the real services is test/security-verify.test.ts.
const servers: Server[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
});

type Face = { status: number; error: string; headers?: Record<string, string> };
async function serve(face: Face): Promise<string> {
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      res.writeHead(face.status, { 'content-type': 'application/json', ...face.headers });
      res.end(JSON.stringify({ error: face.error }));
    });
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}
const spent = (limit: number) => ({
  'x-ratelimit-limit': String(limit),
  'x-ratelimit-remaining': String(limit - 1),
});

describe('probeEdgeBudgets', () => {
  it('passes faces whose refusals before authentication report the IP budget they spent', async () => {
    const report = await probeEdgeBudgets({
      ingester: await serve({ status: 404, error: 'unknown_source', headers: spent(400) }),
      token: await serve({ status: 401, error: 'invalid_client', headers: spent(600) }),
      bff: await serve({ status: 401, error: 'unauthenticated', headers: spent(1200) }),
    });
    expect(report.ok).toBe(true);
    expect(report.results.map((r) => r.observed)).toEqual([
      'HTTP 404 unknown_source limit=400 remaining=399',
      'HTTP 401 invalid_client limit=600 remaining=599',
      'HTTP 401 unauthenticated limit=1200 remaining=1199',
    ]);
  });

  it('fails a face with no budget, one whose budget was not spent, a wrong refusal, and a face that is down', async () => {
    const down = await serve({ status: 200, error: '' });
    await new Promise((r) => servers.pop()?.close(r));
    const report = await probeEdgeBudgets({
      ingester: await serve({ status: 404, error: 'unknown_source' }),
      token: await serve({
        status: 401,
        error: 'invalid_client',
        headers: { 'x-ratelimit-limit': '600', 'x-ratelimit-remaining': '600' },
      }),
      bff: await serve({ status: 500, error: 'internal', headers: spent(1200) }),
    });
    expect(report.ok).toBe(false);
    expect(report.results.map((r) => [r.check, r.pass, r.observed])).toEqual([
      ['ingester_ip_budget', false, 'HTTP 404 unknown_source limit=(none) remaining=(none)'],
      ['token_ip_budget', false, 'HTTP 401 invalid_client limit=600 remaining=600'],
      ['api_ip_budget', false, 'HTTP 500 internal limit=1200 remaining=1199'],
    ]);
    const unreachable = await probeEdgeBudgets({ ingester: down, token: down, bff: down });
    expect(unreachable.results.every((r) => !r.pass && r.observed.startsWith('no answer:'))).toBe(true);
  });
});
