import { describe, expect, it } from 'vitest';
import { useBffApp } from './support/bff-app.js';
import { type OpenApiDoc, validator } from './support/openapi-validator.js';

// The OpenAPI 3.1 document the bff serves is generated from its route table (services/bff/src/openapi.ts).
// Here: it is served without credentials, every operation it lists is a route the app answers, and real
// answers validate against the schemas it gives (the whole-mesh side: test/routing-mesh.test.ts).
const bff = useBffApp();

const fetchDoc = async (): Promise<OpenApiDoc> => {
  const res = await bff.call('GET', '/api/v1/openapi.json');
  expect(res.status).toBe(200);
  return res.body as OpenApiDoc;
};

describe('GET /api/v1/openapi.json', () => {
  it('is an OpenAPI 3.1 document, served without credentials', async () => {
    const doc = await fetchDoc();
    expect(doc.openapi).toBe('3.1.0');
    expect(Object.keys(doc.paths)).toContain('/api/v1/tenants/{tenant}/deliveries');
  });

  it('lists only operations the app really routes, and every one of them', async () => {
    const doc = await fetchDoc();
    const operations = Object.entries(doc.paths).flatMap(([path, item]) =>
      Object.keys(item).map((method) => [path, method] as const),
    );
    expect(operations.length).toBeGreaterThan(15);
    for (const [path, method] of operations) {
      const concrete = path.replaceAll('{tenant}', 'acme').replace(/\{[^}]+\}/g, 'x_1');
      const res = await bff.call(method.toUpperCase(), concrete, { key: bff.keys.admin });
      // A path the app does not route answers exactly {"error":"not_found"}, a method it does not, 405.
      expect([
        path,
        method,
        res.status === 405 || JSON.stringify(res.body) === '{"error":"not_found"}',
      ]).toEqual([path, method, false]);
    }
    // And the other way round: a route of the app that the document did not list would be a 404 here.
    const undocumented = await bff.call('GET', '/api/v1/tenants/acme/no-such-thing', { key: bff.keys.admin });
    expect(undocumented.body).toEqual({ error: 'not_found' });
  });

  it('describes the search parameters, and real answers and refusals validate against it', async () => {
    const doc = await fetchDoc();
    const check = validator(doc);
    const deliveries = doc.paths['/api/v1/tenants/{tenant}/deliveries']?.get as unknown as {
      parameters: { name: string; in: string }[];
    };
    expect(deliveries.parameters.map((p) => p.name)).toEqual(
      expect.arrayContaining(['tenant', 'state', 'endpointId', 'sourceId', 'statusCode', 'cursor', 'since']),
    );
    const events = await bff.call('GET', '/api/v1/tenants/acme/events', { key: bff.keys.admin });
    expect(check('/api/v1/tenants/{tenant}/events', 'get', '200', events.body)).toEqual([]);
    const list = await bff.call('GET', '/api/v1/tenants/acme/deliveries?state=dead', { key: bff.keys.admin });
    expect(check('/api/v1/tenants/{tenant}/deliveries', 'get', '200', list.body)).toEqual([]);
    const refused = await bff.call('GET', '/api/v1/tenants/acme/deliveries?state=buried', {
      key: bff.keys.admin,
    });
    expect(refused.status).toBe(400);
    expect(check('/api/v1/tenants/{tenant}/deliveries', 'get', '400', refused.body)).toEqual([]);
    // The validator is not a rubber stamp: a wrong shape fails.
    expect(check('/api/v1/tenants/{tenant}/events', 'get', '200', { events: [{ id: 1 }] })).not.toEqual([]);
  });

  it('describes the answer of every tenant, resource, replay and audit route', async () => {
    const doc = await fetchDoc();
    const undescribed = Object.entries(doc.paths).flatMap(([path, item]) =>
      Object.entries(item)
        .filter(([, op]) => op.responses['2XX'] !== undefined)
        .map(([method]) => `${method} ${path}`),
    );
    // In this app (no token admin client): every operation has a described answer.
    expect(undescribed).toEqual([]);
  });

  it.each([
    ['GET', '/api/v1/tenants', '/api/v1/tenants', '200', undefined],
    ['GET', '/api/v1/tenants/acme/sources', '/api/v1/tenants/{tenant}/sources', '200', undefined],
    ['GET', '/api/v1/tenants/acme/endpoints', '/api/v1/tenants/{tenant}/endpoints', '200', undefined],
    [
      'POST',
      '/api/v1/tenants/acme/sources',
      '/api/v1/tenants/{tenant}/sources',
      '201',
      { provider: 'github', secret: 's' },
    ],
    [
      'POST',
      '/api/v1/tenants/acme/endpoints',
      '/api/v1/tenants/{tenant}/endpoints',
      '201',
      { url: 'https://e.example/' },
    ],
    [
      'GET',
      '/api/v1/tenants/acme/deliveries/dlv_1/attempts',
      '/api/v1/tenants/{tenant}/deliveries/{id}/attempts',
      '200',
      undefined,
    ],
    [
      'POST',
      '/api/v1/tenants/acme/events/evt_1/replay',
      '/api/v1/tenants/{tenant}/events/{id}/replay',
      '200',
      {},
    ],
    ['GET', '/api/v1/tenants/acme/audit', '/api/v1/tenants/{tenant}/audit', '200', undefined],
    ['GET', '/api/v1/audit/verify', '/api/v1/audit/verify', '200', undefined],
    [
      'POST',
      '/api/v1/tenants/acme/endpoints',
      '/api/v1/tenants/{tenant}/endpoints',
      '400',
      { url: 'ftp://x' },
    ],
  ] as const)('%s %s answers as described (%s)', async (method, url, path, status, body) => {
    const check = validator(await fetchDoc());
    const res = await bff.call(method, url, { key: bff.keys.admin, ...(body === undefined ? {} : { body }) });
    expect(String(res.status)).toBe(status);
    expect(check(path, method.toLowerCase(), status, res.body)).toEqual([]);
  });
});
