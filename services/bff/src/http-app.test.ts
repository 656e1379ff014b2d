import { request as httpRequest } from 'node:http';
import { create } from '@bufbuild/protobuf';
import { timestampFromDate } from '@bufbuild/protobuf/wkt';
import { createDatabase, createScratchDatabase, type Db, type ScratchDatabase } from '@zenmesh/db';
import {
  AttemptSchema,
  AuditEntrySchema,
  CreateEndpointResponseSchema,
  CreateSourceResponseSchema,
  CreateTenantResponseSchema,
  DeliverySchema,
  DeliveryState,
  EndpointSchema,
  EventSchema,
  ListDeliveriesResponseSchema,
  ListEndpointsResponseSchema,
  ListEventsResponseSchema,
  ListSourcesResponseSchema,
  ListTenantsResponseSchema,
  ReplayEndpointResponseSchema,
  ReplayEventResponseSchema,
  SourceSchema,
  type Tenant,
  TenantSchema,
} from '@zenmesh/proto';
import { Code, RpcError } from '@zenmesh/rpc';
import { createLogger } from '@zenmesh/telemetry';
import { type ApiKeyStore, createApiKeyVerifier, generateApiKey, openTokenStore } from '@zenmesh/token';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BackendClients } from './backend-clients.js';
import { type BffApp, createBffApp } from './http-app.js';

// ---- a small in-test backend: the real one is another service; this one records what it was asked ----

const T0 = new Date('2030-05-01T12:00:00.000Z');
const ACME: Tenant = create(TenantSchema, {
  id: 'ten_acmeacmeacmeacmeacmeacmeac',
  name: 'acme',
  createdAt: timestampFromDate(T0),
});
const GLOBEX: Tenant = create(TenantSchema, {
  id: 'ten_globexglobexglobexglobexgl',
  name: 'globex',
  createdAt: timestampFromDate(T0),
});

const SOURCE_SECRET = 'whsrc_source-secret-that-must-not-be-logged';
const SIGNING_SECRET = 'whsec_c2lnbmluZy1zZWNyZXQtdGhhdC1tdXN0LW5vdC1iZS1sb2dnZWQ=';

/** Backend refusals keyed by a magic tenant name, so every RpcError mapping is reachable. */
const FAILURES: Record<string, () => Error> = {
  'bad-name': () => new RpcError(Code.INVALID_ARGUMENT, 'invalid_tenant_name'),
  taken: () => new RpcError(Code.ALREADY_EXISTS, 'tenant_exists'),
  missing: () => new RpcError(Code.NOT_FOUND, 'tenant_not_found'),
  denied: () => new RpcError(Code.PERMISSION_DENIED, 'spiffe_id_not_allowed'),
  down: () => new RpcError(Code.UNAVAILABLE, 'connection refused 127.0.0.1:1'),
  deadline: () => new RpcError(Code.DEADLINE_EXCEEDED, 'deadline_exceeded'),
  boom: () => new Error('password=hunter2 in an internal detail'),
};

function createTestBackend() {
  const calls: Array<{ method: string; req: unknown }> = [];
  const record = (method: string, req: unknown) => {
    calls.push({ method, req });
    const tenant = (req as { tenant?: string; name?: string }).tenant ?? (req as { name?: string }).name;
    const fail = tenant === undefined ? undefined : FAILURES[tenant];
    if (fail) throw fail();
  };
  const backend: BackendClients = {
    tenants: {
      async createTenant(req) {
        record('createTenant', req);
        return create(CreateTenantResponseSchema, {
          tenant: {
            id: 'ten_newnewnewnewnewnewnewnewne',
            name: req.name ?? '',
            createdAt: timestampFromDate(T0),
          },
        });
      },
      async listTenants(req) {
        record('listTenants', req);
        return create(ListTenantsResponseSchema, { tenants: [ACME, GLOBEX] });
      },
    },
    sources: {
      async createSource(req) {
        record('createSource', req);
        return create(CreateSourceResponseSchema, {
          source: create(SourceSchema, {
            id: 'src_sourcesourcesourcesourceso',
            tenantId: ACME.id,
            provider: req.provider ?? '',
            name: req.name ?? '',
            generic: { header: 'x-signature', algorithm: 'sha256', encoding: 'hex', prefix: 'sha256=' },
            createdAt: timestampFromDate(T0),
          }),
        });
      },
      async listSources(req) {
        record('listSources', req);
        return create(ListSourcesResponseSchema, {
          sources: [create(SourceSchema, { id: 'src_1', tenantId: ACME.id, provider: 'github', name: 'gh' })],
        });
      },
      async rotateSourceSecret(req) {
        record('rotateSourceSecret', req);
        return {
          $typeName: 'zenmesh.v1.RotateSourceSecretResponse',
          source: create(SourceSchema, {
            id: req.sourceId ?? '',
            tenantId: ACME.id,
            provider: 'github',
            name: 'gh',
            previousSecretExpiresAt: timestampFromDate(new Date(T0.getTime() + 3_600_000)),
          }),
        };
      },
    },
    endpoints: {
      async createEndpoint(req) {
        record('createEndpoint', req);
        return create(CreateEndpointResponseSchema, {
          endpoint: create(EndpointSchema, {
            id: 'ep_1',
            tenantId: ACME.id,
            url: req.url ?? '',
            eventTypes: [...(req.eventTypes ?? [])],
            enabled: true,
            createdAt: timestampFromDate(T0),
          }),
          signingSecret: SIGNING_SECRET,
        });
      },
      async listEndpoints(req) {
        record('listEndpoints', req);
        return create(ListEndpointsResponseSchema, {
          endpoints: [
            create(EndpointSchema, { id: 'ep_1', tenantId: ACME.id, url: 'https://example.com/hook' }),
          ],
        });
      },
      async updateEndpoint(req) {
        record('updateEndpoint', req);
        return {
          $typeName: 'zenmesh.v1.UpdateEndpointResponse',
          endpoint: create(EndpointSchema, {
            id: req.endpointId ?? '',
            tenantId: ACME.id,
            url: 'https://example.com/hook',
            enabled: false,
            disabledReason: 'operator',
            disabledAt: timestampFromDate(T0),
            maxConcurrency: 5,
            cloudeventsMode: 'structured',
          }),
        };
      },
      async rotateEndpointSecret(req) {
        record('rotateEndpointSecret', req);
        return {
          $typeName: 'zenmesh.v1.RotateEndpointSecretResponse',
          endpoint: create(EndpointSchema, { id: req.endpointId ?? '', tenantId: ACME.id, enabled: true }),
          signingSecret: SIGNING_SECRET,
        };
      },
    },
    events: {
      async listEvents(req) {
        record('listEvents', req);
        return create(ListEventsResponseSchema, {
          events: [
            create(EventSchema, {
              id: 'evt_1',
              tenantId: ACME.id,
              sourceId: 'src_1',
              source: '/sources/src_1',
              type: 'push',
              time: timestampFromDate(T0),
              datacontenttype: 'application/json',
              data: new TextEncoder().encode('{"ref":"main"}'),
              providerDeliveryId: 'gh-123',
              receivedAt: timestampFromDate(new Date(T0.getTime() + 1500)),
            }),
          ],
        });
      },
    },
    deliveries: {
      async listDeliveries(req) {
        record('listDeliveries', req);
        return create(ListDeliveriesResponseSchema, {
          deliveries: [
            create(DeliverySchema, {
              id: 'dlv_1',
              tenantId: ACME.id,
              eventId: 'evt_1',
              endpointId: 'ep_1',
              state: DeliveryState.RETRYING,
              attempts: 2,
              nextAttemptAt: timestampFromDate(new Date(T0.getTime() + 60_000)),
              lastStatusCode: 503,
              lastError: 'HTTP 503',
              updatedAt: timestampFromDate(T0),
            }),
          ],
        });
      },
      async listAttempts(req) {
        record('listAttempts', req);
        return {
          $typeName: 'zenmesh.v1.ListAttemptsResponse',
          attempts: [
            create(AttemptSchema, {
              id: 'att_1',
              deliveryId: req.deliveryId ?? '',
              attempt: 1,
              statusCode: 503,
              error: 'HTTP 503',
              durationMs: 12,
              createdAt: timestampFromDate(T0),
            }),
          ],
        };
      },
      async replayDelivery(req) {
        record('replayDelivery', req);
        return {
          $typeName: 'zenmesh.v1.ReplayDeliveryResponse',
          delivery: create(DeliverySchema, {
            id: req.deliveryId ?? '',
            tenantId: ACME.id,
            state: DeliveryState.PENDING,
            replays: 1,
          }),
        };
      },
      async replayEndpoint(req) {
        record('replayEndpoint', req);
        return create(ReplayEndpointResponseSchema, { deliveryIds: ['dlv_1', 'dlv_2'] });
      },
      async replayEvent(req) {
        record('replayEvent', req);
        return create(ReplayEventResponseSchema, { deliveryIds: ['dlv_1'], skippedInFlight: ['dlv_3'] });
      },
    },
    audit: {
      async listAudit(req) {
        record('listAudit', req);
        return {
          $typeName: 'zenmesh.v1.ListAuditResponse',
          entries: [
            create(AuditEntrySchema, {
              id: 'aud_1',
              tenantId: ACME.id,
              seq: 3n,
              at: timestampFromDate(T0),
              actor: 'api_key:key_x',
              action: 'endpoint.update',
              target: 'endpoint/ep_1',
              beforeJson: '{"enabled":true}',
              afterJson: '{"enabled":false}',
              prevHash: 'a'.repeat(64),
              hash: 'b'.repeat(64),
            }),
          ],
        };
      },
      async verifyAudit(req) {
        record('verifyAudit', req);
        return {
          $typeName: 'zenmesh.v1.VerifyAuditResponse',
          ok: false,
          chains: [
            {
              $typeName: 'zenmesh.v1.AuditChainStatus',
              tenantId: ACME.id,
              tenantName: 'acme',
              rows: 1n,
              ok: false,
              brokenSeq: 2n,
              brokenId: 'aud_2',
              reason: 'hash_mismatch',
            },
            {
              $typeName: 'zenmesh.v1.AuditChainStatus',
              tenantId: GLOBEX.id,
              tenantName: 'globex',
              rows: 4n,
              ok: true,
              brokenSeq: 0n,
              brokenId: '',
              reason: '',
            },
          ],
        };
      },
    },
  };
  return { backend, calls };
}

// ---- fixtures: a real token store on a scratch database, the app on port 0, pino output captured ----

let scratch: ScratchDatabase;
let db: Db;
let store: ApiKeyStore;
let app: BffApp;
let base: string;
let calls: Array<{ method: string; req: unknown }>;
let verifyCalls = 0;
const logLines: string[] = [];
const keys = { admin: '', acme: '', readOnly: '', revoked: '', unknown: generateApiKey() };

beforeAll(async () => {
  scratch = await createScratchDatabase(process.env.DATABASE_URL ?? '', 'zm_test_bff');
  db = await createDatabase({ url: scratch.url });
  store = await openTokenStore({ db, logger: createLogger('token', { level: 'silent' }) });
  keys.admin = (await store.create({ name: 'admin', scopes: ['admin'] })).apiKey;
  keys.acme = (await store.create({ name: 'acme-admin', scopes: ['admin'], tenantId: ACME.id })).apiKey;
  keys.readOnly = (await store.create({ name: 'reader', scopes: ['read'] })).apiKey;
  const revoked = await store.create({ name: 'gone', scopes: ['admin'] });
  await store.revoke(revoked.record.id);
  keys.revoked = revoked.apiKey;

  const verify = createApiKeyVerifier(store);
  const testBackend = createTestBackend();
  calls = testBackend.calls;
  app = createBffApp({
    backend: testBackend.backend,
    verifyApiKey: async (key) => {
      verifyCalls += 1;
      return verify(key);
    },
    logger: createLogger('bff', {
      level: 'debug',
      destination: { write: (line: string) => void logLines.push(line) },
    }),
    ingestPublicUrl: 'https://hooks.example.com/',
  });
  base = await app.listen('127.0.0.1:0');
});

afterAll(async () => {
  await app?.close();
  await db?.close();
  await scratch?.drop();
});

interface Reply {
  status: number;
  body: unknown;
  headers: Headers;
}

async function call(
  method: string,
  path: string,
  opts: { key?: string; body?: string | object } = {},
): Promise<Reply> {
  const headers: Record<string, string> = {};
  if (opts.key !== undefined) headers.authorization = `Bearer ${opts.key}`;
  let body: string | undefined;
  if (opts.body !== undefined) {
    headers['content-type'] = 'application/json';
    body = typeof opts.body === 'string' ? opts.body : JSON.stringify(opts.body);
  }
  const res = await fetch(`${base}${path}`, { method, headers, ...(body === undefined ? {} : { body }) });
  const text = await res.text();
  const isJson = res.headers.get('content-type')?.startsWith('application/json') ?? false;
  return { status: res.status, body: isJson ? JSON.parse(text) : text, headers: res.headers };
}

/** The new endpoint fields as the in-test backend leaves them (proto defaults). */
const ENDPOINT_DEFAULTS = {
  maxConcurrency: 0,
  cloudeventsMode: '',
  disabledReason: null,
  disabledAt: null,
  consecutiveFailures: 0,
  hasClientCert: false,
  previousSecretExpiresAt: null,
};

const lastCall = (method: string) => calls.filter((c) => c.method === method).at(-1)?.req;

describe('unauthenticated surface', () => {
  it('serves /healthz and the status page without a key', async () => {
    expect(await call('GET', '/healthz')).toMatchObject({ status: 200, body: { status: 'ok' } });
    const page = await call('GET', '/');
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(page.body).toContain('services/bff/README.md');
  });
});

describe('authentication and authorisation', () => {
  it('401s a request without an Authorization header, before routing', async () => {
    for (const path of ['/api/v1/tenants', '/api/v1/no-such-route']) {
      const res = await call('GET', path);
      expect(res.status).toBe(401);
      expect(res.body).toEqual({ error: 'unauthenticated' });
      expect(res.headers.get('www-authenticate')).toBe('Bearer realm="zenmesh"');
    }
  });

  it('401s another scheme, an unknown, a revoked and a malformed key with the same body', async () => {
    const attempts: Array<Record<string, string>> = [
      { authorization: `Basic ${Buffer.from(`x:${keys.admin}`).toString('base64')}` },
      { authorization: `Bearer ${keys.unknown}` },
      { authorization: `Bearer ${keys.revoked}` },
      { authorization: 'Bearer zm_not-a-key' },
      { authorization: 'Bearer' },
    ];
    for (const headers of attempts) {
      const res = await fetch(`${base}/api/v1/tenants`, { headers });
      expect(res.status).toBe(401);
      expect(await res.json()).toEqual({ error: 'unauthenticated' });
      expect(res.headers.get('www-authenticate')).toBe('Bearer realm="zenmesh", error="invalid_token"');
    }
  });

  it('403s a valid key without the admin scope', async () => {
    expect(await call('GET', '/api/v1/tenants', { key: keys.readOnly })).toMatchObject({
      status: 403,
      body: { error: 'forbidden' },
    });
  });

  it('403s a tenant-bound key on another tenant, by id or by name, and on unknown names', async () => {
    const before = calls.filter((c) => c.method === 'listSources').length;
    for (const ref of [GLOBEX.id, 'globex', 'no-such-tenant', 'ten_unknownunknownunknownunk']) {
      const res = await call('GET', `/api/v1/tenants/${ref}/sources`, { key: keys.acme });
      expect(res.status, ref).toBe(403);
      expect(res.body).toEqual({ error: 'forbidden' });
    }
    expect(calls.filter((c) => c.method === 'listSources').length).toBe(before);
  });

  it('403s a tenant-bound key on the cluster-level routes', async () => {
    expect(await call('GET', '/api/v1/tenants', { key: keys.acme })).toMatchObject({
      status: 403,
      body: { error: 'forbidden' },
    });
    const created = await call('POST', '/api/v1/tenants', { key: keys.acme, body: { name: 'sneaky' } });
    expect(created).toMatchObject({ status: 403, body: { error: 'forbidden' } });
    expect(
      calls.some((c) => c.method === 'createTenant' && (c.req as { name: string }).name === 'sneaky'),
    ).toBe(false);
  });

  it('lets a tenant-bound key act on its own tenant, by id or name, and hands the backend the id', async () => {
    for (const ref of [ACME.id, 'acme']) {
      const res = await call('GET', `/api/v1/tenants/${ref}/endpoints`, { key: keys.acme });
      expect(res.status).toBe(200);
      expect(lastCall('listEndpoints')).toMatchObject({ tenant: ACME.id });
    }
  });

  it('caches valid answers (keyed by hash) but asks again about refused keys', async () => {
    await call('GET', '/api/v1/tenants', { key: keys.admin });
    const afterFirst = verifyCalls;
    await call('GET', '/api/v1/tenants', { key: keys.admin });
    expect(verifyCalls).toBe(afterFirst);
    await call('GET', '/api/v1/tenants', { key: keys.unknown });
    await call('GET', '/api/v1/tenants', { key: keys.unknown });
    expect(verifyCalls).toBe(afterFirst + 2);
  });
});

describe('request refusals', () => {
  it('413s a body above 64 KiB declared by Content-Length', async () => {
    const res = await call('POST', '/api/v1/tenants', {
      key: keys.admin,
      body: `{"name":"${'a'.repeat(64 * 1024)}"}`,
    });
    expect(res.status).toBe(413);
    expect(res.body).toEqual({ error: 'payload_too_large' });
  });

  it('413s a chunked body once it crosses 64 KiB', async () => {
    const reply = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = httpRequest(`${base}/api/v1/tenants`, {
        method: 'POST',
        headers: {
          authorization: `Bearer ${keys.admin}`,
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
      const res = await call('POST', '/api/v1/tenants', { key: keys.admin, body });
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
      const res = await call(method, path, { key: keys.admin, ...(body === undefined ? {} : { body }) });
      expect(res.status, `${method} ${path}`).toBe(400);
      expect(res.body, `${method} ${path}`).toEqual({
        error: 'invalid_argument',
        message: expect.stringContaining(message),
      });
    }
  });

  it('404s unknown routes and 405s known paths with the wrong method (after authentication)', async () => {
    expect(await call('GET', '/api/v1/nope', { key: keys.admin })).toMatchObject({
      status: 404,
      body: { error: 'not_found' },
    });
    const res = await call('DELETE', '/api/v1/tenants', { key: keys.admin });
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
      const res = await call('POST', '/api/v1/tenants', { key: keys.admin, body: { name } });
      expect(res.status).toBe(status);
      expect(res.body).toEqual(body);
    });
  }

  it('maps a refusal on a tenant route too (backend UNAVAILABLE -> 503)', async () => {
    expect(await call('GET', '/api/v1/tenants/down/events', { key: keys.admin })).toMatchObject({
      status: 503,
      body: { error: 'unavailable' },
    });
  });
});

describe('happy paths', () => {
  it('creates and lists tenants', async () => {
    const created = await call('POST', '/api/v1/tenants', { key: keys.admin, body: { name: 'initech' } });
    expect(created.status).toBe(201);
    expect(created.body).toEqual({
      tenant: {
        id: 'ten_newnewnewnewnewnewnewnewne',
        name: 'initech',
        createdAt: '2030-05-01T12:00:00.000Z',
      },
    });
    const listed = await call('GET', '/api/v1/tenants', { key: keys.admin });
    expect(listed.status).toBe(200);
    expect(listed.body).toEqual({
      tenants: [
        { id: ACME.id, name: 'acme', createdAt: '2030-05-01T12:00:00.000Z' },
        { id: GLOBEX.id, name: 'globex', createdAt: '2030-05-01T12:00:00.000Z' },
      ],
    });
  });

  it('creates a source (secret passed through, ingest URL built) and lists sources', async () => {
    const created = await call('POST', '/api/v1/tenants/acme/sources', {
      key: keys.admin,
      body: { provider: 'generic', name: 'shop', secret: SOURCE_SECRET, generic: { algorithm: 'sha512' } },
    });
    expect(created.status).toBe(201);
    expect(created.body).toEqual({
      source: {
        id: 'src_sourcesourcesourcesourceso',
        tenantId: ACME.id,
        provider: 'generic',
        name: 'shop',
        generic: {
          header: 'x-signature',
          algorithm: 'sha256',
          encoding: 'hex',
          prefix: 'sha256=',
          timestampHeader: '',
          eventTypeHeader: '',
          deliveryIdHeader: '',
        },
        toleranceSeconds: 0,
        previousSecretExpiresAt: null,
        createdAt: '2030-05-01T12:00:00.000Z',
      },
      ingestUrl: 'https://hooks.example.com/v1/webhooks/src_sourcesourcesourcesourceso',
    });
    expect(lastCall('createSource')).toMatchObject({
      tenant: 'acme',
      provider: 'generic',
      name: 'shop',
      secret: SOURCE_SECRET,
      generic: { header: '', algorithm: 'sha512', encoding: '' },
    });
    // An absent prefix stays absent (the backend applies its default); only an explicit "" means none.
    expect((lastCall('createSource') as { generic?: { prefix?: string } }).generic?.prefix).toBeUndefined();
    const listed = await call('GET', '/api/v1/tenants/acme/sources', { key: keys.admin });
    expect(listed).toMatchObject({
      status: 200,
      body: {
        sources: [
          {
            id: 'src_1',
            tenantId: ACME.id,
            provider: 'github',
            name: 'gh',
            generic: null,
            toleranceSeconds: 0,
            previousSecretExpiresAt: null,
            createdAt: null,
          },
        ],
      },
    });
  });

  it('creates an endpoint (signing secret shown once) and lists endpoints', async () => {
    const created = await call('POST', '/api/v1/tenants/acme/endpoints', {
      key: keys.admin,
      body: { url: 'https://example.com/hook', eventTypes: ['push'] },
    });
    expect(created.status).toBe(201);
    expect(created.body).toEqual({
      endpoint: {
        id: 'ep_1',
        tenantId: ACME.id,
        url: 'https://example.com/hook',
        eventTypes: ['push'],
        enabled: true,
        createdAt: '2030-05-01T12:00:00.000Z',
        ...ENDPOINT_DEFAULTS,
      },
      signingSecret: SIGNING_SECRET,
    });
    const listed = await call('GET', '/api/v1/tenants/acme/endpoints', { key: keys.admin });
    expect(listed.body).toEqual({
      endpoints: [
        {
          id: 'ep_1',
          tenantId: ACME.id,
          url: 'https://example.com/hook',
          eventTypes: [],
          enabled: false,
          createdAt: null,
          ...ENDPOINT_DEFAULTS,
        },
      ],
    });
  });

  it('lists events with base64 data and ISO timestamps', async () => {
    const res = await call('GET', '/api/v1/tenants/acme/events?limit=10', { key: keys.admin });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({
      events: [
        {
          id: 'evt_1',
          tenantId: ACME.id,
          sourceId: 'src_1',
          source: '/sources/src_1',
          type: 'push',
          time: '2030-05-01T12:00:00.000Z',
          datacontenttype: 'application/json',
          dataBase64: Buffer.from('{"ref":"main"}').toString('base64'),
          providerDeliveryId: 'gh-123',
          receivedAt: '2030-05-01T12:00:01.500Z',
        },
      ],
    });
    expect(lastCall('listEvents')).toEqual({ tenant: 'acme', limit: 10 });
  });

  it('lists deliveries, passing limit and eventId through', async () => {
    const res = await call('GET', '/api/v1/tenants/acme/deliveries?limit=5&eventId=evt_1', {
      key: keys.admin,
    });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({
      deliveries: [
        {
          id: 'dlv_1',
          tenantId: ACME.id,
          eventId: 'evt_1',
          endpointId: 'ep_1',
          state: 'retrying',
          attempts: 2,
          nextAttemptAt: '2030-05-01T12:01:00.000Z',
          lastStatusCode: 503,
          lastError: 'HTTP 503',
          updatedAt: '2030-05-01T12:00:00.000Z',
          replays: 0,
          deadAt: null,
        },
      ],
    });
    expect(lastCall('listDeliveries')).toEqual({ tenant: 'acme', limit: 5, eventId: 'evt_1' });
    await call('GET', '/api/v1/tenants/acme/deliveries', { key: keys.admin });
    expect(lastCall('listDeliveries')).toEqual({ tenant: 'acme', limit: 0, eventId: '' });
  });
});

describe('sources: rotate-secret; endpoints: update and rotate-secret', () => {
  it('rotates a source secret, passing who asked (actor, client IP, user agent) for the audit row', async () => {
    const res = await fetch(`${base}/api/v1/tenants/acme/sources/src_abc/rotate-secret`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${keys.admin}`,
        'content-type': 'application/json',
        'user-agent': 'zenmesh-cli/9.9',
        // Not a trusted proxy here: ignored.
        'x-forwarded-for': '203.0.113.77',
      },
      body: JSON.stringify({ secret: SOURCE_SECRET, previousValidSeconds: 600 }),
    });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({
      source: { id: 'src_abc', previousSecretExpiresAt: '2030-05-01T13:00:00.000Z' },
    });
    expect(lastCall('rotateSourceSecret')).toEqual({
      tenant: 'acme',
      sourceId: 'src_abc',
      secret: SOURCE_SECRET,
      previousValidS: 600,
      audit: {
        actor: expect.stringMatching(/^api_key:key_[a-z2-7]{26}$/),
        ip: '127.0.0.1',
        userAgent: 'zenmesh-cli/9.9',
      },
    });
  });

  it('creates a provider source with a tolerance and generic header options', async () => {
    const res = await call('POST', '/api/v1/tenants/acme/sources', {
      key: keys.admin,
      body: {
        provider: 'generic',
        secret: 's',
        toleranceSeconds: 60,
        generic: { timestampHeader: 'X-Ts', eventTypeHeader: 'x-kind', deliveryIdHeader: 'x-id' },
      },
    });
    expect(res.status).toBe(201);
    expect(lastCall('createSource')).toMatchObject({
      toleranceSeconds: 60,
      generic: { timestampHeader: 'X-Ts', eventTypeHeader: 'x-kind', deliveryIdHeader: 'x-id' },
    });
  });

  it('updates an endpoint: only the fields given change; eventTypes [] means every type', async () => {
    const res = await call('POST', '/api/v1/tenants/acme/endpoints/ep_1', {
      key: keys.admin,
      body: { enabled: false, eventTypes: [], maxConcurrency: 5, cloudeventsMode: 'structured' },
    });
    expect(res).toMatchObject({
      status: 200,
      body: {
        endpoint: {
          id: 'ep_1',
          enabled: false,
          disabledReason: 'operator',
          disabledAt: '2030-05-01T12:00:00.000Z',
          maxConcurrency: 5,
          cloudeventsMode: 'structured',
        },
      },
    });
    expect(lastCall('updateEndpoint')).toMatchObject({
      tenant: 'acme',
      endpointId: 'ep_1',
      setEventTypes: true,
      eventTypes: [],
      enabled: false,
      maxConcurrency: 5,
      cloudeventsMode: 'structured',
      clearClientCert: false,
    });
    expect(lastCall('updateEndpoint')).not.toHaveProperty('url');
    await call('POST', '/api/v1/tenants/acme/endpoints/ep_1', {
      key: keys.admin,
      body: { clearClientCert: true },
    });
    expect(lastCall('updateEndpoint')).toMatchObject({ setEventTypes: false, clearClientCert: true });
  });

  it('rotates an endpoint secret (shown once), with or without a body', async () => {
    const res = await call('POST', '/api/v1/tenants/acme/endpoints/ep_1/rotate-secret', {
      key: keys.admin,
      body: { previousValidSeconds: 3600 },
    });
    expect(res).toMatchObject({
      status: 200,
      body: { signingSecret: SIGNING_SECRET, endpoint: { id: 'ep_1' } },
    });
    expect(lastCall('rotateEndpointSecret')).toMatchObject({ endpointId: 'ep_1', previousValidS: 3600 });
    const bare = await fetch(`${base}/api/v1/tenants/acme/endpoints/ep_1/rotate-secret`, {
      method: 'POST',
      headers: { authorization: `Bearer ${keys.admin}` },
    });
    expect(bare.status).toBe(200);
    expect(lastCall('rotateEndpointSecret')).toMatchObject({ previousValidS: 0 });
  });
});

describe('attempts, replay and audit routes', () => {
  it('lists the attempts of a delivery', async () => {
    const res = await call('GET', '/api/v1/tenants/acme/deliveries/dlv_9/attempts', { key: keys.admin });
    expect(res).toEqual({
      status: 200,
      headers: expect.anything(),
      body: {
        attempts: [
          {
            id: 'att_1',
            deliveryId: 'dlv_9',
            attempt: 1,
            statusCode: 503,
            error: 'HTTP 503',
            durationMs: 12,
            createdAt: '2030-05-01T12:00:00.000Z',
          },
        ],
      },
    });
    expect(lastCall('listAttempts')).toEqual({ tenant: 'acme', deliveryId: 'dlv_9' });
  });

  it('replays a delivery, the dead letters of an endpoint since a time, and an event', async () => {
    const d = await call('POST', '/api/v1/tenants/acme/deliveries/dlv_7/replay', {
      key: keys.admin,
      body: {},
    });
    expect(d).toMatchObject({
      status: 200,
      body: { delivery: { id: 'dlv_7', state: 'pending', replays: 1 } },
    });
    expect(lastCall('replayDelivery')).toMatchObject({
      tenant: 'acme',
      deliveryId: 'dlv_7',
      audit: { ip: '127.0.0.1' },
    });
    const e = await call('POST', '/api/v1/tenants/acme/endpoints/ep_1/replay', {
      key: keys.admin,
      body: { since: '2030-05-01T10:00:00+02:00' },
    });
    expect(e).toMatchObject({ status: 200, body: { deliveryIds: ['dlv_1', 'dlv_2'], skippedInFlight: [] } });
    const since = (lastCall('replayEndpoint') as { since: Parameters<typeof timestampFromDate>[0] }).since;
    expect(since).toMatchObject({ seconds: BigInt(Date.parse('2030-05-01T08:00:00Z') / 1000) });
    const v = await call('POST', '/api/v1/tenants/acme/events/evt_1/replay', { key: keys.admin });
    expect(v).toMatchObject({ status: 200, body: { deliveryIds: ['dlv_1'], skippedInFlight: ['dlv_3'] } });
    expect(lastCall('replayEvent')).toMatchObject({ tenant: 'acme', eventId: 'evt_1' });
  });

  it('lists audit rows with parsed snapshots and verifies chains', async () => {
    const list = await call('GET', '/api/v1/tenants/acme/audit?limit=10&afterSeq=2', { key: keys.admin });
    expect(list).toMatchObject({
      status: 200,
      body: {
        entries: [
          {
            id: 'aud_1',
            seq: 3,
            action: 'endpoint.update',
            before: { enabled: true },
            after: { enabled: false },
          },
        ],
      },
    });
    expect(lastCall('listAudit')).toEqual({ tenant: 'acme', limit: 10, afterSeq: 2n });
    const verify = await call('GET', '/api/v1/audit/verify', { key: keys.admin });
    expect(verify).toMatchObject({
      status: 200,
      body: {
        ok: false,
        chains: [
          {
            tenantId: ACME.id,
            tenantName: 'acme',
            rows: 1,
            ok: false,
            broken: { seq: 2, id: 'aud_2', reason: 'hash_mismatch' },
          },
          { tenantId: GLOBEX.id, tenantName: 'globex', rows: 4, ok: true, broken: null },
        ],
      },
    });
    expect(lastCall('verifyAudit')).toEqual({ tenant: '' });
    await call('GET', '/api/v1/audit/verify?tenant=acme', { key: keys.acme });
    expect(lastCall('verifyAudit')).toEqual({ tenant: ACME.id });
  });

  it('refuses each malformed request exactly', async () => {
    const cases: Array<[string, string, object | undefined, string]> = [
      ['POST', '/api/v1/tenants/acme/sources/src_1/rotate-secret', {}, 'secret: '],
      [
        'POST',
        '/api/v1/tenants/acme/sources/src_1/rotate-secret',
        { secret: 's', previousValidSeconds: 0 },
        'previousValidSeconds: ',
      ],
      [
        'POST',
        '/api/v1/tenants/acme/sources',
        { provider: 'github', secret: 's', toleranceSeconds: 3601 },
        'toleranceSeconds: ',
      ],
      [
        'POST',
        '/api/v1/tenants/acme/sources',
        { provider: 'generic', secret: 's', generic: { timestampHeader: 5 } },
        'generic.timestampHeader: ',
      ],
      ['POST', '/api/v1/tenants/acme/endpoints/ep_1', { enabled: 'yes' }, 'enabled: '],
      ['POST', '/api/v1/tenants/acme/endpoints/ep_1', { url: 'ftp://x.example/' }, 'url: '],
      ['POST', '/api/v1/tenants/acme/endpoints/ep_1', { colour: 'red' }, 'Unrecognized key'],
      [
        'POST',
        '/api/v1/tenants/acme/endpoints',
        { url: 'https://x.example/', maxConcurrency: 1001 },
        'maxConcurrency: ',
      ],
      [
        'POST',
        '/api/v1/tenants/acme/endpoints',
        { url: 'https://x.example/', cloudeventsMode: 'batch' },
        'cloudeventsMode: ',
      ],
      [
        'POST',
        '/api/v1/tenants/acme/endpoints/ep_1/rotate-secret',
        { previousValidSeconds: 604_801 },
        'previousValidSeconds: ',
      ],
      ['POST', '/api/v1/tenants/acme/endpoints/ep_1/replay', {}, 'since: '],
      ['POST', '/api/v1/tenants/acme/endpoints/ep_1/replay', { since: 'yesterday' }, 'since: '],
      ['POST', '/api/v1/tenants/acme/deliveries/dlv_1/replay', { force: true }, 'Unrecognized key'],
      ['POST', '/api/v1/tenants/acme/events/evt_1/replay', { all: 1 }, 'Unrecognized key'],
      [
        'GET',
        '/api/v1/tenants/acme/audit?afterSeq=-1',
        undefined,
        'afterSeq: must be a non-negative integer',
      ],
      ['GET', '/api/v1/tenants/acme/audit?limit=0', undefined, 'limit: must be an integer from 1 to 1000'],
      ['GET', '/api/v1/audit/verify?tenant=', undefined, 'tenant: '],
    ];
    for (const [method, path, body, message] of cases) {
      const res = await call(method, path, { key: keys.admin, ...(body === undefined ? {} : { body }) });
      expect(res.status, `${method} ${path} ${JSON.stringify(body)}`).toBe(400);
      expect(res.body, `${method} ${path}`).toEqual({
        error: 'invalid_argument',
        message: expect.stringContaining(message),
      });
    }
    expect(
      await call('GET', '/api/v1/tenants/acme/endpoints/ep_1/replay', { key: keys.admin }),
    ).toMatchObject({
      status: 405,
      body: { error: 'method_not_allowed' },
    });
    expect(
      await call('GET', '/api/v1/tenants/acme/deliveries/dl%2Fv/attempts', { key: keys.admin }),
    ).toMatchObject({
      status: 404,
      body: { error: 'not_found' },
    });
  });

  it('refuses callers without the scope or the tenant with 403 before calling the backend', async () => {
    const before = calls.length;
    const forbidden = { status: 403, body: { error: 'forbidden' } };
    // keys.readOnly holds the scope `read` only.
    for (const [method, path, body] of [
      ['POST', '/api/v1/tenants/acme/deliveries/dlv_1/replay', {}],
      ['POST', '/api/v1/tenants/acme/events/evt_1/replay', {}],
      ['POST', '/api/v1/tenants/acme/endpoints/ep_1/replay', { since: '2030-01-01T00:00:00Z' }],
      ['POST', '/api/v1/tenants/acme/endpoints/ep_1', { enabled: true }],
      ['POST', '/api/v1/tenants/acme/endpoints/ep_1/rotate-secret', {}],
      ['POST', '/api/v1/tenants/acme/sources/src_1/rotate-secret', { secret: 's' }],
      ['GET', '/api/v1/tenants/acme/deliveries/dlv_1/attempts', undefined],
      ['GET', '/api/v1/tenants/acme/audit', undefined],
      ['GET', '/api/v1/audit/verify', undefined],
    ] as const) {
      const res = await call(method, path, { key: keys.readOnly, ...(body === undefined ? {} : { body }) });
      expect(res, `${method} ${path}`).toMatchObject(forbidden);
    }
    // A tenant-bound admin: not another tenant's rows, and not every chain at once.
    expect(
      await call('POST', `/api/v1/tenants/${GLOBEX.id}/events/evt_1/replay`, { key: keys.acme, body: {} }),
    ).toMatchObject(forbidden);
    expect(await call('GET', '/api/v1/tenants/globex/audit', { key: keys.acme })).toMatchObject(forbidden);
    expect(await call('GET', '/api/v1/audit/verify', { key: keys.acme })).toMatchObject(forbidden);
    expect(await call('GET', '/api/v1/audit/verify?tenant=globex', { key: keys.acme })).toMatchObject(
      forbidden,
    );
    // Only the name lookups of the tenant-bound key reached the backend.
    expect(calls.slice(before).map((c) => c.method)).toEqual(['listTenants', 'listTenants']);
  });
});

describe('client IP behind a trusted proxy', () => {
  it('believes X-Forwarded-For only from a trusted proxy, right to left', async () => {
    const seen: unknown[] = [];
    const proxied = createBffApp({
      backend: {
        ...createTestBackend().backend,
        deliveries: {
          ...createTestBackend().backend.deliveries,
          async replayEvent(req) {
            seen.push(req.audit);
            return create(ReplayEventResponseSchema, {});
          },
        },
      },
      verifyApiKey: createApiKeyVerifier(store),
      logger: createLogger('bff', { level: 'silent' }),
      trustedProxies: ['127.0.0.0/8', '10.0.0.1'],
    });
    const url = await proxied.listen('127.0.0.1:0');
    try {
      for (const xff of ['203.0.113.5, 10.0.0.1', '198.51.100.1, 203.0.113.5', 'not-an-ip']) {
        const res = await fetch(`${url}/api/v1/tenants/acme/events/evt_1/replay`, {
          method: 'POST',
          headers: { authorization: `Bearer ${keys.admin}`, 'x-forwarded-for': xff },
        });
        expect(res.status).toBe(200);
      }
    } finally {
      await proxied.close();
    }
    expect(seen.map((a) => (a as { ip: string }).ip)).toEqual(['203.0.113.5', '203.0.113.5', '127.0.0.1']);
  });

  it('refuses a trusted proxy entry that is not an address or CIDR', () => {
    expect(() =>
      createBffApp({
        backend: createTestBackend().backend,
        verifyApiKey: createApiKeyVerifier(store),
        logger: createLogger('bff', { level: 'silent' }),
        trustedProxies: ['proxy.internal'],
      }),
    ).toThrow('trusted proxy: not an IP address or CIDR: proxy.internal');
  });
});

describe('logs', () => {
  it('record every request with its key id but never an API key or a secret', async () => {
    // Runs last in this file: by now every key above has been presented, valid or not.
    const log = logLines.join('');
    const requestLines = logLines
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .filter((l) => l.msg === 'request');
    expect(requestLines.length).toBeGreaterThan(20);
    expect(
      requestLines.some((l) => typeof l.keyId === 'string' && (l.keyId as string).startsWith('key_')),
    ).toBe(true);
    expect(log).toContain('request failed'); // the 500s were logged with their detail...
    for (const secret of [
      keys.admin,
      keys.acme,
      keys.readOnly,
      keys.revoked,
      keys.unknown,
      SOURCE_SECRET,
      SIGNING_SECRET,
    ]) {
      expect(log).not.toContain(secret);
      expect(log).not.toContain(secret.slice(3, 24));
    }
  });
});
