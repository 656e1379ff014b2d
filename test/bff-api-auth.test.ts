// The bff's /api/v1: what an unauthenticated or under-scoped caller gets, and every request refusal.
import { request as httpRequest } from 'node:http';
import { describe, expect, it } from 'vitest';

// ---- a small in-test backend: the real one is another service; this one records what it was asked ----
import { expectLogsWithoutSecrets, useBffApp } from './support/bff-app.js';
import { ACME, GLOBEX } from './support/bff-test-backend.js';

const bff = useBffApp();

describe('unauthenticated surface', () => {
  it('serves /healthz and the status page without a key', async () => {
    expect(await bff.call('GET', '/healthz')).toMatchObject({ status: 200, body: { status: 'ok' } });
    const page = await bff.call('GET', '/');
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(page.body).toContain('services/bff/README.md');
  });
});

describe('authentication and authorisation', () => {
  it('401s a request without an Authorization header, before routing', async () => {
    for (const path of ['/api/v1/tenants', '/api/v1/no-such-route']) {
      const res = await bff.call('GET', path);
      expect(res.status).toBe(401);
      expect(res.body).toEqual({ error: 'unauthenticated' });
      expect(res.headers.get('www-authenticate')).toBe('Bearer realm="zenmesh"');
    }
  });

  it('401s another scheme, an unknown, a revoked and a malformed key with the same body', async () => {
    const attempts: Array<Record<string, string>> = [
      { authorization: `Basic ${Buffer.from(`x:${bff.keys.admin}`).toString('base64')}` },
      { authorization: `Bearer ${bff.keys.unknown}` },
      { authorization: `Bearer ${bff.keys.revoked}` },
      { authorization: 'Bearer zm_not-a-key' },
      { authorization: 'Bearer' },
    ];
    for (const headers of attempts) {
      const res = await fetch(`${bff.base()}/api/v1/tenants`, { headers });
      expect(res.status).toBe(401);
      expect(await res.json()).toEqual({ error: 'unauthenticated' });
      expect(res.headers.get('www-authenticate')).toBe('Bearer realm="zenmesh", error="invalid_token"');
    }
  });

  it('403s a valid key without the admin scope', async () => {
    expect(await bff.call('GET', '/api/v1/tenants', { key: bff.keys.readOnly })).toMatchObject({
      status: 403,
      body: { error: 'forbidden' },
    });
  });

  it('403s a tenant-bound key on another tenant, by id or by name, and on unknown names', async () => {
    const before = bff.calls.filter((c) => c.method === 'listSources').length;
    for (const ref of [GLOBEX.id, 'globex', 'no-such-tenant', 'ten_unknownunknownunknownunk']) {
      const res = await bff.call('GET', `/api/v1/tenants/${ref}/sources`, { key: bff.keys.acme });
      expect(res.status, ref).toBe(403);
      expect(res.body).toEqual({ error: 'forbidden' });
    }
    expect(bff.calls.filter((c) => c.method === 'listSources').length).toBe(before);
  });

  it('403s a tenant-bound key on the cluster-level routes', async () => {
    expect(await bff.call('GET', '/api/v1/tenants', { key: bff.keys.acme })).toMatchObject({
      status: 403,
      body: { error: 'forbidden' },
    });
    const created = await bff.call('POST', '/api/v1/tenants', {
      key: bff.keys.acme,
      body: { name: 'sneaky' },
    });
    expect(created).toMatchObject({ status: 403, body: { error: 'forbidden' } });
    expect(
      bff.calls.some((c) => c.method === 'createTenant' && (c.req as { name: string }).name === 'sneaky'),
    ).toBe(false);
  });

  it('lets a tenant-bound key act on its own tenant, by id or name, and hands the backend the id', async () => {
    for (const ref of [ACME.id, 'acme']) {
      const res = await bff.call('GET', `/api/v1/tenants/${ref}/endpoints`, { key: bff.keys.acme });
      expect(res.status).toBe(200);
      expect(bff.lastCall('listEndpoints')).toMatchObject({ tenant: ACME.id });
    }
  });

  it('caches valid answers (keyed by hash) but asks again about refused keys', async () => {
    await bff.call('GET', '/api/v1/tenants', { key: bff.keys.admin });
    const afterFirst = bff.verifyCalls();
    await bff.call('GET', '/api/v1/tenants', { key: bff.keys.admin });
    expect(bff.verifyCalls()).toBe(afterFirst);
    await bff.call('GET', '/api/v1/tenants', { key: bff.keys.unknown });
    await bff.call('GET', '/api/v1/tenants', { key: bff.keys.unknown });
    expect(bff.verifyCalls()).toBe(afterFirst + 2);
  });
});

describe('request refusals', () => {
  it('413s a body above 64 KiB declared by Content-Length', async () => {
    const res = await bff.call('POST', '/api/v1/tenants', {
      key: bff.keys.admin,
      body: `{"name":"${'a'.repeat(64 * 1024)}"}`,
    });
    expect(res.status).toBe(413);
    expect(res.body).toEqual({ error: 'payload_too_large' });
  });

  it('413s a chunked body once it crosses 64 KiB', async () => {
    const reply = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = httpRequest(`${bff.base()}/api/v1/tenants`, {
        method: 'POST',
        headers: {
          authorization: `Bearer ${bff.keys.admin}`,
          'content-type': 'application/json',
          'transfer-encoding': 'chunked',
        },
      });
      req.on('response', (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => {
          body += c;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      });
      req.on('error', reject);
      req.write('{"name":"');
      req.write('a'.repeat(40 * 1024));
      req.write('a'.repeat(40 * 1024));
      req.end('"}');
    });
    expect(reply.status).toBe(413);
    expect(JSON.parse(reply.body)).toEqual({ error: 'payload_too_large' });
  });

  it('400s malformed and empty JSON', async () => {
    for (const body of ['{"name":', 'not json', '']) {
      const res = await bff.call('POST', '/api/v1/tenants', { key: bff.keys.admin, body });
      expect(res.status, body).toBe(400);
      expect(res.body).toEqual({ error: 'invalid_json' });
    }
  });

  it('400s bodies and parameters of the wrong shape, naming the field', async () => {
    const cases: Array<[string, string, object | undefined, string]> = [
      ['POST', '/api/v1/tenants', {}, 'name: '],
      ['POST', '/api/v1/tenants', { name: 'ok', extra: 1 }, 'Unrecognized key'],
      ['POST', '/api/v1/tenants/acme/sources', { provider: 'generic' }, 'secret: '],
      [
        'POST',
        '/api/v1/tenants/acme/sources',
        { provider: 'generic', secret: 's', generic: { algorithm: 'md5' } },
        'generic.algorithm: ',
      ],
      ['POST', '/api/v1/tenants/acme/endpoints', { url: 'not a url' }, 'url: '],
      ['POST', '/api/v1/tenants/acme/endpoints', { url: 'ftp://example.com/' }, 'url: '],
      [
        'POST',
        '/api/v1/tenants/acme/endpoints',
        { url: 'https://example.com/', eventTypes: 'push' },
        'eventTypes: ',
      ],
      ['GET', '/api/v1/tenants/acme/events?limit=0', undefined, 'limit: must be an integer from 1 to 1000'],
      ['GET', '/api/v1/tenants/acme/events?limit=abc', undefined, 'limit: must be an integer from 1 to 1000'],
      [
        'GET',
        '/api/v1/tenants/acme/deliveries?limit=1001',
        undefined,
        'limit: must be an integer from 1 to 1000',
      ],
      ['GET', '/api/v1/tenants/a%20b/sources', undefined, 'tenant: expected a tenant id or name'],
    ];
    for (const [method, path, body, message] of cases) {
      const res = await bff.call(method, path, {
        key: bff.keys.admin,
        ...(body === undefined ? {} : { body }),
      });
      expect(res.status, `${method} ${path}`).toBe(400);
      expect(res.body, `${method} ${path}`).toEqual({
        error: 'invalid_argument',
        message: expect.stringContaining(message),
      });
    }
  });

  it('404s unknown routes and 405s known paths with the wrong method (after authentication)', async () => {
    expect(await bff.call('GET', '/api/v1/nope', { key: bff.keys.admin })).toMatchObject({
      status: 404,
      body: { error: 'not_found' },
    });
    const res = await bff.call('DELETE', '/api/v1/tenants', { key: bff.keys.admin });
    expect(res).toMatchObject({ status: 405, body: { error: 'method_not_allowed' } });
    expect(res.headers.get('allow')).toBe('POST, GET');
  });
});

describe('backend refusals map to HTTP', () => {
  const cases: Array<[string, number, object]> = [
    ['bad-name', 400, { error: 'invalid_argument', message: 'invalid_tenant_name' }],
    ['taken', 409, { error: 'already_exists', message: 'tenant_exists' }],
    ['missing', 404, { error: 'not_found', message: 'tenant_not_found' }],
    ['denied', 403, { error: 'forbidden' }],
    ['down', 503, { error: 'unavailable' }],
    ['deadline', 500, { error: 'internal' }],
    ['boom', 500, { error: 'internal' }],
  ];
  for (const [name, status, body] of cases) {
    it(`${name} -> ${status}`, async () => {
      const res = await bff.call('POST', '/api/v1/tenants', { key: bff.keys.admin, body: { name } });
      expect(res.status).toBe(status);
      expect(res.body).toEqual(body);
    });
  }

  it('maps a refusal on a tenant route too (backend UNAVAILABLE -> 503)', async () => {
    expect(await bff.call('GET', '/api/v1/tenants/down/events', { key: bff.keys.admin })).toMatchObject({
      status: 503,
      body: { error: 'unavailable' },
    });
  });
});

describe('logs', () => {
  it('record every request with its key id but never an API key or a secret', () => {
    expectLogsWithoutSecrets(bff, { failures: true });
  });
});
