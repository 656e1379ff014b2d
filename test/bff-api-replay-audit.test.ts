import { create } from '@bufbuild/protobuf';
import type { timestampFromDate } from '@bufbuild/protobuf/wkt';
import { createBffApp } from '@zenmesh/bff';
import { ReplayEventResponseSchema } from '@zenmesh/proto';
import { createLogger } from '@zenmesh/telemetry';
import { createApiKeyVerifier } from '@zenmesh/token';
import { describe, expect, it } from 'vitest';

// ---- a small in-test backend: the real one is another service; this one records what it was asked ----
import { expectLogsWithoutSecrets, useBffApp } from './support/bff-app.js';
import { ACME, createTestBackend, GLOBEX } from './support/bff-test-backend.js';

const bff = useBffApp();

describe('attempts, replay and audit routes', () => {
  it('lists the attempts of a delivery', async () => {
    const res = await bff.call('GET', '/api/v1/tenants/acme/deliveries/dlv_9/attempts', {
      key: bff.keys.admin,
    });
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
    expect(bff.lastCall('listAttempts')).toEqual({ tenant: 'acme', deliveryId: 'dlv_9' });
  });

  it('replays a delivery, the dead letters of an endpoint since a time, and an event', async () => {
    const d = await bff.call('POST', '/api/v1/tenants/acme/deliveries/dlv_7/replay', {
      key: bff.keys.admin,
      body: {},
    });
    expect(d).toMatchObject({
      status: 200,
      body: { delivery: { id: 'dlv_7', state: 'pending', replays: 1 } },
    });
    expect(bff.lastCall('replayDelivery')).toMatchObject({
      tenant: 'acme',
      deliveryId: 'dlv_7',
      audit: { ip: '127.0.0.1' },
    });
    const e = await bff.call('POST', '/api/v1/tenants/acme/endpoints/ep_1/replay', {
      key: bff.keys.admin,
      body: { since: '2030-05-01T10:00:00+02:00' },
    });
    expect(e).toMatchObject({ status: 200, body: { deliveryIds: ['dlv_1', 'dlv_2'], skippedInFlight: [] } });
    const since = (bff.lastCall('replayEndpoint') as { since: Parameters<typeof timestampFromDate>[0] })
      .since;
    expect(since).toMatchObject({ seconds: BigInt(Date.parse('2030-05-01T08:00:00Z') / 1000) });
    const v = await bff.call('POST', '/api/v1/tenants/acme/events/evt_1/replay', { key: bff.keys.admin });
    expect(v).toMatchObject({ status: 200, body: { deliveryIds: ['dlv_1'], skippedInFlight: ['dlv_3'] } });
    expect(bff.lastCall('replayEvent')).toMatchObject({ tenant: 'acme', eventId: 'evt_1' });
  });

  it('lists audit rows with parsed snapshots and verifies chains', async () => {
    const list = await bff.call('GET', '/api/v1/tenants/acme/audit?limit=10&afterSeq=2', {
      key: bff.keys.admin,
    });
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
    expect(bff.lastCall('listAudit')).toEqual({ tenant: 'acme', limit: 10, afterSeq: 2n });
    const verify = await bff.call('GET', '/api/v1/audit/verify', { key: bff.keys.admin });
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
    expect(bff.lastCall('verifyAudit')).toEqual({ tenant: '' });
    await bff.call('GET', '/api/v1/audit/verify?tenant=acme', { key: bff.keys.acme });
    expect(bff.lastCall('verifyAudit')).toEqual({ tenant: ACME.id });
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
        '/api/v1/tenants/acme/endpoints',
        { url: 'https://x.example/', rateLimit: { perSecond: 0 } },
        'rateLimit.perSecond: ',
      ],
      [
        'POST',
        '/api/v1/tenants/acme/endpoints/ep_1',
        { rateLimit: { perSecond: 5, burst: 0 } },
        'rateLimit.burst: ',
      ],
      ['POST', '/api/v1/tenants/acme/endpoints/ep_1', { rateLimit: { burst: 5 } }, 'rateLimit.perSecond: '],
      ['POST', '/api/v1/tenants/acme/endpoints/ep_1', { ordering: { key: '' } }, 'ordering.key: '],
      ['POST', '/api/v1/tenants/acme/endpoints/ep_1', { ordering: '$.id' }, 'ordering: '],
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
      const res = await bff.call(method, path, {
        key: bff.keys.admin,
        ...(body === undefined ? {} : { body }),
      });
      expect(res.status, `${method} ${path} ${JSON.stringify(body)}`).toBe(400);
      expect(res.body, `${method} ${path}`).toEqual({
        error: 'invalid_argument',
        message: expect.stringContaining(message),
      });
    }
    expect(
      await bff.call('GET', '/api/v1/tenants/acme/endpoints/ep_1/replay', { key: bff.keys.admin }),
    ).toMatchObject({
      status: 405,
      body: { error: 'method_not_allowed' },
    });
    expect(
      await bff.call('GET', '/api/v1/tenants/acme/deliveries/dl%2Fv/attempts', { key: bff.keys.admin }),
    ).toMatchObject({
      status: 404,
      body: { error: 'not_found' },
    });
  });

  it('refuses callers without the scope or the tenant with 403 before calling the backend', async () => {
    const before = bff.calls.length;
    const forbidden = { status: 403, body: { error: 'forbidden' } };
    // bff.keys.readOnly holds the scope `read` only.
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
      const res = await bff.call(method, path, {
        key: bff.keys.readOnly,
        ...(body === undefined ? {} : { body }),
      });
      expect(res, `${method} ${path}`).toMatchObject(forbidden);
    }
    // A tenant-bound admin: not another tenant's rows, and not every chain at once.
    expect(
      await bff.call('POST', `/api/v1/tenants/${GLOBEX.id}/events/evt_1/replay`, {
        key: bff.keys.acme,
        body: {},
      }),
    ).toMatchObject(forbidden);
    expect(await bff.call('GET', '/api/v1/tenants/globex/audit', { key: bff.keys.acme })).toMatchObject(
      forbidden,
    );
    expect(await bff.call('GET', '/api/v1/audit/verify', { key: bff.keys.acme })).toMatchObject(forbidden);
    expect(await bff.call('GET', '/api/v1/audit/verify?tenant=globex', { key: bff.keys.acme })).toMatchObject(
      forbidden,
    );
    // Only the name lookups of the tenant-bound key reached the backend.
    expect(bff.calls.slice(before).map((c) => c.method)).toEqual(['listTenants', 'listTenants']);
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
      verifyApiKey: createApiKeyVerifier(bff.store()),
      logger: createLogger('bff', { level: 'silent' }),
      trustedProxies: ['127.0.0.0/8', '10.0.0.1'],
    });
    const url = await proxied.listen('127.0.0.1:0');
    try {
      for (const xff of ['203.0.113.5, 10.0.0.1', '198.51.100.1, 203.0.113.5', 'not-an-ip']) {
        const res = await fetch(`${url}/api/v1/tenants/acme/events/evt_1/replay`, {
          method: 'POST',
          headers: { authorization: `Bearer ${bff.keys.admin}`, 'x-forwarded-for': xff },
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
        verifyApiKey: createApiKeyVerifier(bff.store()),
        logger: createLogger('bff', { level: 'silent' }),
        trustedProxies: ['proxy.internal'],
      }),
    ).toThrow('trusted proxy: not an IP address or CIDR: proxy.internal');
  });
});

describe('logs', () => {
  it('record every request with its key id but never an API key or a secret', () => {
    expectLogsWithoutSecrets(bff);
  });
});
