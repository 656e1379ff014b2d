// Issue 14: admin API input fuzzing (fast-check, fixed seed). The bff's /api/v1 in front of the real backend
// (Postgres, over mutual TLS) and the real token service: arbitrary JSON values and arbitrary bytes posted to
// every create route, with an admin API key. Each answer is a created resource (2xx) or a 4xx refusal with a
// stable error code — never a 5xx — and the rows in the backend's tables grow by exactly the resources
// created: nothing is stored for a refused request.
import { randomBytes } from 'node:crypto';
import { SourceService, TenantService } from '@zenmesh/proto';
import fc from 'fast-check';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMeshFixture, type MeshFixture } from './support/mesh-fixture.js';

const SEED = 0x14_a91;
let fixture: MeshFixture;
let base = '';
let adminKey = '';
let tenantId = '';
let pool: pg.Pool;

beforeAll(async () => {
  fixture = await createMeshFixture('api-input');
  const backend = await fixture.startBackend();
  const token = await fixture.startToken();
  adminKey = (await token.store.create({ name: 'admin', scopes: ['admin'] })).apiKey;
  const ch = await fixture.channel('bff', 'backend', backend.address);
  const { EndpointService, EventService, DeliveryService, AuditService, ConnectionService } = await import(
    '@zenmesh/proto'
  );
  base = await fixture.startBff(token, {
    tenants: ch.client(TenantService),
    sources: ch.client(SourceService),
    endpoints: ch.client(EndpointService),
    events: ch.client(EventService),
    deliveries: ch.client(DeliveryService),
    audit: ch.client(AuditService),
    connections: ch.client(ConnectionService),
  });
  tenantId = (await ch.client(TenantService).createTenant({ name: 'fuzz' })).tenant?.id ?? '';
  pool = new pg.Pool({ connectionString: backend.url, max: 1 });
}, 120_000);
afterAll(async () => {
  await pool?.end();
  await fixture?.stop();
});

const rows = async () => {
  const r = await pool.query(
    `select (select count(*) from core.tenants) + (select count(*) from core.sources)
      + (select count(*) from core.endpoints) + (select count(*) from core.connections) as n`,
  );
  return Number(r.rows[0]?.n ?? 0);
};

const routes = () => [
  '/api/v1/tenants',
  `/api/v1/tenants/${tenantId}/sources`,
  `/api/v1/tenants/${tenantId}/endpoints`,
  `/api/v1/tenants/${tenantId}/connections`,
];
// Field names the routes read, so that the values (not only the shapes) get fuzzed.
const FIELDS = [
  'name',
  'provider',
  'secret',
  'url',
  'eventTypes',
  'sourceId',
  'endpointId',
  'filter',
  'headers',
];
const name = fc.oneof(fc.string({ maxLength: 80 }), fc.stringMatching(/^[a-z][a-z0-9-]{2,20}$/));
/** The shape each route reads, with fuzzed values: some of them valid, so the count of created rows moves. */
const shaped = [
  fc.record({ name }, { requiredKeys: [] }),
  fc.record(
    {
      name,
      provider: fc.constantFrom('generic', 'stripe', 'github', 'slack', 'nope', ''),
      secret: fc.oneof(fc.string({ maxLength: 80 }), fc.stringMatching(/^[A-Za-z0-9]{32,40}$/)),
    },
    { requiredKeys: [] },
  ),
  fc.record(
    {
      url: fc.oneof(fc.webUrl(), fc.string({ maxLength: 40 }), fc.constant('https://example.com/hook')),
      eventTypes: fc.array(fc.oneof(fc.string({ maxLength: 20 }), fc.constant('*')), { maxLength: 3 }),
    },
    { requiredKeys: [] },
  ),
  fc.record(
    { sourceId: fc.string({ maxLength: 30 }), endpointId: fc.string({ maxLength: 30 }) },
    { requiredKeys: [] },
  ),
].map((a) => a.map((o) => JSON.stringify(o)));
const body = (route: number) =>
  fc.oneof(
    shaped[route] as fc.Arbitrary<string>,
    shaped[route] as fc.Arbitrary<string>,
    fc.json({ maxDepth: 3 }),
    fc
      .dictionary(fc.constantFrom(...FIELDS), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 5 })
      .map((o) => JSON.stringify(o)),
    fc.uint8Array({ maxLength: 512 }).map((b) => Buffer.from(b)),
    fc.constant(JSON.stringify({ name: 'x'.repeat(70_000) })),
  );

describe('the admin API with arbitrary bodies', () => {
  it('answers a created resource or a 4xx with an error code, and stores nothing for a refusal', async () => {
    const before = await rows();
    let created = 0;
    const statuses = new Map<number, number>();
    const errors = new Set<string>();
    await fc.assert(
      fc.asyncProperty(
        fc.nat({ max: 3 }).chain((r) => fc.tuple(fc.constant(r), body(r))),
        fc.boolean(),
        async ([route, payload], json) => {
          const res = await fetch(`${base}${routes()[route]}`, {
            method: 'POST',
            headers: {
              authorization: `Bearer ${adminKey}`,
              'content-type': json ? 'application/json' : 'text/plain',
            },
            body: payload,
          });
          const text = await res.text();
          statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
          expect(
            res.status,
            `${routes()[route]} ${String(payload).slice(0, 200)} → ${text.slice(0, 200)}`,
          ).toBeLessThan(500);
          if (res.status < 300) {
            created += 1;
            return;
          }
          expect(res.status).toBeGreaterThanOrEqual(400);
          const error = (JSON.parse(text) as { error?: unknown }).error;
          expect(error).toMatch(/^[a-z_]+$/);
          errors.add(String(error));
        },
      ),
      { seed: SEED, numRuns: 300 },
    );
    expect(await rows()).toBe(before + created);
    // The refusals came from several checks (not all stopped at the content type), and some bodies were valid.
    expect(errors.size).toBeGreaterThan(3);
    expect(created).toBeGreaterThan(0);
    // And a genuine request still creates one.
    const ok = await fetch(`${base}/api/v1/tenants`, {
      method: 'POST',
      headers: { authorization: `Bearer ${adminKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: `fuzz-${randomBytes(3).toString('hex')}` }),
    });
    expect(ok.status).toBe(201);
    expect(await rows()).toBe(before + created + 1);
  }, 120_000);
});
