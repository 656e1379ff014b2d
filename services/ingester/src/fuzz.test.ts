import { request } from 'node:http';
import { create } from '@bufbuild/protobuf';
import { newId } from '@zenmesh/crypto';
import { RecordEventResponseSchema, ResolveSourceResponseSchema } from '@zenmesh/proto';
import { PROVIDERS } from '@zenmesh/providers';
import { Code, RpcError } from '@zenmesh/rpc';
import { createLogger } from '@zenmesh/telemetry';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createIngester } from './ingester-app.js';
import type { Ingester } from './ingester-options.js';

// Bounded and seeded: the same inputs every run; a failure prints the seed and case to replay.
const SEED = 0x5eed_2024;
const CASES_PER_SOURCE = 150;

function mulberry32(seed: number) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const HEADERS = [
  'x-hub-signature-256',
  'x-github-event',
  'x-github-delivery',
  'stripe-signature',
  'x-slack-signature',
  'x-slack-request-timestamp',
  'x-shopify-hmac-sha256',
  'x-shopify-topic',
  'x-shopify-webhook-id',
  'x-gitlab-token',
  'x-gitlab-event',
  'idempotency-key',
  'x-gitlab-event-uuid',
  'webhook-id',
  'webhook-timestamp',
  'webhook-signature',
  'svix-id',
  'svix-timestamp',
  'svix-signature',
  'x-signature',
  'x-event-type',
  'x-delivery-id',
  'content-type',
];

let recorded = 0;
let ingester: Ingester;
let port: number;
const sources: { id: string; provider: string }[] = [];

beforeAll(async () => {
  const secrets = ['whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw', 'previous-secret'];
  for (const provider of [...PROVIDERS, 'generic-b64']) sources.push({ id: newId('src'), provider });
  ingester = createIngester({
    // Hundreds of requests from one address: the per-IP budget has its own test (limits.test.ts).
    ipRateLimit: false,
    sources: {
      async resolveSource({ sourceId }) {
        const found = sources.find((s) => s.id === sourceId);
        if (found === undefined) throw new RpcError(Code.NOT_FOUND, 'source_not_found');
        const generic =
          found.provider === 'generic-b64'
            ? { header: 'x-signature', algorithm: 'sha512', encoding: 'base64', prefix: '' }
            : undefined;
        return create(ResolveSourceResponseSchema, {
          source: { id: sourceId, provider: found.provider.replace('-b64', ''), generic },
          secrets,
        });
      },
    },
    events: {
      async recordEvent() {
        recorded += 1;
        return create(RecordEventResponseSchema, { event: { id: newId('evt') } });
      },
    },
    egress: { dispatch: async () => ({}) },
    logger: createLogger('ingester', { level: 'silent' }),
    maxBodyBytes: 16 * 1024,
  });
  port = Number(new URL(await ingester.listen('127.0.0.1:0')).port);
});
afterAll(() => ingester.close());

/** A header value from the characters Node's client lets through: tab, printable ASCII and Latin-1. */
function value(rand: () => number): string {
  const pick = rand();
  const len = Math.floor(rand() ** 3 * 300);
  const chars = (lo: number, hi: number) =>
    String.fromCharCode(...Array.from({ length: len }, () => lo + Math.floor(rand() * (hi - lo))));
  if (pick < 0.15) return '';
  if (pick < 0.3) return `sha256=${chars(0x30, 0x67)}`;
  if (pick < 0.4) return `t=${Math.floor(rand() * 2e9)},v1=${chars(0x30, 0x67)},v1=`;
  if (pick < 0.5) return `v1,${Buffer.from(chars(0, 255), 'latin1').toString('base64')} v1,=== v2,x`;
  if (pick < 0.6) return String(Math.floor(rand() * 4e9) - 1e9);
  if (pick < 0.7) return `v0=${'f'.repeat(Math.floor(rand() * 130))}`;
  if (pick < 0.85) return chars(0x20, 0x7f);
  return chars(0x80, 0x100);
}

function body(rand: () => number): Buffer {
  const pick = rand();
  const len = Math.floor(rand() ** 2 * 20_000);
  if (pick < 0.2) return Buffer.alloc(0);
  if (pick < 0.5) return Buffer.from(Array.from({ length: len }, () => Math.floor(rand() * 256)));
  if (pick < 0.7)
    return Buffer.from(
      JSON.stringify({ type: 'url_verification', challenge: 'x', id: 'evt_1', event_id: 'e' }),
    );
  if (pick < 0.85) return Buffer.from('{"a":'.repeat(Math.floor(rand() * 2000)));
  return Buffer.from(`\uFEFF${'é'.repeat(len % 3000)}\uD800`, 'utf8');
}

function send(path: string, headers: Record<string, string | string[]>, payload: Buffer) {
  return new Promise<number>((resolve, reject) => {
    const req = request({ port, host: '127.0.0.1', method: 'POST', path, headers }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    // A 413 closes the connection while we may still be writing: that is the designed answer.
    req.on('error', (err) =>
      String(err).includes('EPIPE') || String(err).includes('ECONNRESET') ? resolve(413) : reject(err),
    );
    req.end(payload);
  });
}

describe('fuzz: malformed headers, bodies and encodings at every source type', () => {
  it(`answers ${CASES_PER_SOURCE} random requests per source with a 4xx, never crashes, stores nothing`, async () => {
    const rand = mulberry32(SEED);
    const statuses = new Map<number, number>();
    for (const source of sources) {
      for (let i = 0; i < CASES_PER_SOURCE; i++) {
        const headers: Record<string, string | string[]> = {};
        for (const name of HEADERS) {
          if (rand() < 0.35) headers[name] = rand() < 0.1 ? [value(rand), value(rand)] : value(rand);
        }
        const status = await send(`/v1/webhooks/${source.id}`, headers, body(rand));
        statuses.set(status, (statuses.get(status) ?? 0) + 1);
        if (![400, 401, 413].includes(status)) {
          throw new Error(`seed ${SEED}, ${source.provider} case ${i}: status ${status}`);
        }
      }
    }
    expect(recorded).toBe(0);
    expect([...statuses.keys()].every((s) => s < 500)).toBe(true);
    expect(statuses.get(401)).toBeGreaterThan(0);
    // Still serving afterwards.
    expect((await fetch(`http://127.0.0.1:${port}/healthz`)).status).toBe(200);
  });

  it('answers malformed source ids and paths with 404, never 5xx', async () => {
    const rand = mulberry32(SEED + 1);
    for (let i = 0; i < 100; i++) {
      const segment = encodeURIComponent(value(rand)).slice(0, 200) || 'x';
      const status = await send(`/v1/webhooks/${segment}`, {}, Buffer.from('x'));
      expect([404, 413]).toContain(status);
    }
    expect(recorded).toBe(0);
  });
});
