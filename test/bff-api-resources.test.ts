import { type Timestamp, timestampDate } from '@bufbuild/protobuf/wkt';
import { describe, expect, it } from 'vitest';

// ---- a small in-test backend: the real one is another service; this one records what it was asked ----
import { ENDPOINT_DEFAULTS, expectLogsWithoutSecrets, useBffApp } from './support/bff-app.js';
import { ACME, GLOBEX, SIGNING_SECRET, SOURCE_SECRET } from './support/bff-test-backend.js';

const bff = useBffApp();

describe('happy paths', () => {
  it('creates and lists tenants', async () => {
    const created = await bff.call('POST', '/api/v1/tenants', {
      key: bff.keys.admin,
      body: { name: 'initech' },
    });
    expect(created.status).toBe(201);
    expect(created.body).toEqual({
      tenant: {
        id: 'ten_newnewnewnewnewnewnewnewne',
        name: 'initech',
        createdAt: '2030-05-01T12:00:00.000Z',
      },
    });
    const listed = await bff.call('GET', '/api/v1/tenants', { key: bff.keys.admin });
    expect(listed.status).toBe(200);
    expect(listed.body).toEqual({
      tenants: [
        { id: ACME.id, name: 'acme', createdAt: '2030-05-01T12:00:00.000Z' },
        { id: GLOBEX.id, name: 'globex', createdAt: '2030-05-01T12:00:00.000Z' },
      ],
    });
  });

  it('creates a source (secret passed through, ingest URL built) and lists sources', async () => {
    const created = await bff.call('POST', '/api/v1/tenants/acme/sources', {
      key: bff.keys.admin,
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
          // Unset by the (in-test) backend: the proto default, a signed timestamp.
          timestampHeader: 'x-timestamp',
          eventTypeHeader: '',
          deliveryIdHeader: '',
        },
        toleranceSeconds: 0,
        previousSecretExpiresAt: null,
        routing: '',
        createdAt: '2030-05-01T12:00:00.000Z',
      },
      ingestUrl: 'https://hooks.example.com/v1/webhooks/src_sourcesourcesourcesourceso',
    });
    expect(bff.lastCall('createSource')).toMatchObject({
      tenant: 'acme',
      provider: 'generic',
      name: 'shop',
      secret: SOURCE_SECRET,
      generic: { header: '', algorithm: 'sha512', encoding: '' },
    });
    // An absent prefix or timestamp header stays absent (the backend applies its default, a signed timestamp
    // for the latter); only an explicit "" means none.
    const sent = (bff.lastCall('createSource') as { generic?: { prefix?: string; timestampHeader?: string } })
      .generic;
    expect([sent?.prefix, sent?.timestampHeader]).toEqual([undefined, undefined]);
    const listed = await bff.call('GET', '/api/v1/tenants/acme/sources', { key: bff.keys.admin });
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
            routing: '',
            createdAt: null,
          },
        ],
      },
    });
  });

  it('creates an endpoint (signing secret shown once) and lists endpoints', async () => {
    const created = await bff.call('POST', '/api/v1/tenants/acme/endpoints', {
      key: bff.keys.admin,
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
    const listed = await bff.call('GET', '/api/v1/tenants/acme/endpoints', { key: bff.keys.admin });
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
    const res = await bff.call('GET', '/api/v1/tenants/acme/events?limit=10', { key: bff.keys.admin });
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
          traceId: '',
          headers: {},
        },
      ],
      nextCursor: null,
    });
    expect(bff.lastCall('listEvents')).toEqual({
      tenant: 'acme',
      limit: 10,
      sourceId: '',
      type: '',
      cursor: '',
    });
  });

  it('lists deliveries, passing limit and eventId through', async () => {
    const res = await bff.call('GET', '/api/v1/tenants/acme/deliveries?limit=5&eventId=evt_1', {
      key: bff.keys.admin,
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
          connectionId: '',
        },
      ],
      nextCursor: null,
    });
    const none = { state: '', endpointId: '', sourceId: '', eventType: '', cursor: '' };
    expect(bff.lastCall('listDeliveries')).toEqual({ tenant: 'acme', limit: 5, eventId: 'evt_1', ...none });
    await bff.call('GET', '/api/v1/tenants/acme/deliveries', { key: bff.keys.admin });
    expect(bff.lastCall('listDeliveries')).toEqual({ tenant: 'acme', limit: 0, eventId: '', ...none });
  });

  it('passes every search filter and the cursor through, and refuses malformed ones before the backend', async () => {
    const q =
      'state=dead&endpointId=ep_1&sourceId=src_1&eventType=order.*&since=2030-05-01T00:00:00Z' +
      '&until=2030-05-02T00:00:00%2B02:00&statusCode=410&cursor=abc&limit=20';
    const res = await bff.call('GET', `/api/v1/tenants/acme/deliveries?${q}`, { key: bff.keys.admin });
    expect(res.status).toBe(200);
    const call = bff.lastCall('listDeliveries') as Record<string, unknown>;
    expect(call).toMatchObject({
      state: 'dead',
      endpointId: 'ep_1',
      sourceId: 'src_1',
      eventType: 'order.*',
      statusCode: 410,
      cursor: 'abc',
      limit: 20,
    });
    expect(timestampDate(call.since as Timestamp).toISOString()).toBe('2030-05-01T00:00:00.000Z');
    expect(timestampDate(call.until as Timestamp).toISOString()).toBe('2030-05-01T22:00:00.000Z');
    const before = bff.calls.length;
    for (const bad of ['state=buried', 'statusCode=abc', 'since=yesterday', 'eventType=ord*', 'colour=red']) {
      const r = await bff.call('GET', `/api/v1/tenants/acme/deliveries?${bad}`, { key: bff.keys.admin });
      expect([bad, r.status, (r.body as { error: string }).error]).toEqual([bad, 400, 'invalid_argument']);
    }
    expect(bff.calls.length).toBe(before);
  });
});

describe('sources: rotate-secret; endpoints: update and rotate-secret', () => {
  it('rotates a source secret, passing who asked (actor, client IP, user agent) for the audit row', async () => {
    const res = await fetch(`${bff.base()}/api/v1/tenants/acme/sources/src_abc/rotate-secret`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${bff.keys.admin}`,
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
    expect(bff.lastCall('rotateSourceSecret')).toEqual({
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

  it("updates a source's tolerance, and refuses a tolerance outside 1..3600 (0 = default on update) exactly", async () => {
    const res = await bff.call('POST', '/api/v1/tenants/acme/sources/src_1', {
      key: bff.keys.admin,
      body: { toleranceSeconds: 120 },
    });
    expect(res).toMatchObject({ status: 200, body: { source: { id: 'src_1', toleranceSeconds: 120 } } });
    expect(bff.lastCall('updateSource')).toMatchObject({
      tenant: 'acme',
      sourceId: 'src_1',
      toleranceSeconds: 120,
    });
    expect(
      (
        await bff.call('POST', '/api/v1/tenants/acme/sources/src_1', {
          key: bff.keys.admin,
          body: { toleranceSeconds: 0 },
        })
      ).status,
    ).toBe(200);
    const before = bff.calls.length;
    const refused: Array<[string, object]> = [
      ['/api/v1/tenants/acme/sources', { provider: 'stripe', secret: 's', toleranceSeconds: 3601 }],
      ['/api/v1/tenants/acme/sources', { provider: 'stripe', secret: 's', toleranceSeconds: 0 }],
      ['/api/v1/tenants/acme/sources', { provider: 'stripe', secret: 's', toleranceSeconds: -1 }],
      ['/api/v1/tenants/acme/sources', { provider: 'stripe', secret: 's', toleranceSeconds: 1.5 }],
      ['/api/v1/tenants/acme/sources', { provider: 'stripe', secret: 's', toleranceSeconds: '60' }],
      ['/api/v1/tenants/acme/sources/src_1', { toleranceSeconds: 3601 }],
      ['/api/v1/tenants/acme/sources/src_1', { toleranceSeconds: 86_400 }],
      ['/api/v1/tenants/acme/sources/src_1', { toleranceSeconds: -1 }],
      ['/api/v1/tenants/acme/sources/src_1', { toleranceSeconds: 1.5 }],
      ['/api/v1/tenants/acme/sources/src_1', { toleranceSeconds: null }],
      ['/api/v1/tenants/acme/sources/src_1', {}],
    ];
    for (const [path, body] of refused) {
      const r = await bff.call('POST', path, { key: bff.keys.admin, body });
      expect({ body, status: r.status, answer: r.body }).toEqual({
        body,
        status: 400,
        answer: { error: 'invalid_argument', message: expect.stringContaining('toleranceSeconds: ') },
      });
    }
    // Refused at the door: nothing reached the backend.
    expect(bff.calls.length).toBe(before);
  });

  it('creates a provider source with a tolerance and generic header options', async () => {
    const res = await bff.call('POST', '/api/v1/tenants/acme/sources', {
      key: bff.keys.admin,
      body: {
        provider: 'generic',
        secret: 's',
        toleranceSeconds: 60,
        generic: { timestampHeader: 'X-Ts', eventTypeHeader: 'x-kind', deliveryIdHeader: 'x-id' },
      },
    });
    expect(res.status).toBe(201);
    expect(bff.lastCall('createSource')).toMatchObject({
      toleranceSeconds: 60,
      generic: { timestampHeader: 'X-Ts', eventTypeHeader: 'x-kind', deliveryIdHeader: 'x-id' },
    });
    // The explicit opt-out of a signed timestamp reaches the backend as "" (not as "unset").
    const optOut = await bff.call('POST', '/api/v1/tenants/acme/sources', {
      key: bff.keys.admin,
      body: { provider: 'generic', secret: 's', generic: { timestampHeader: '' } },
    });
    expect(optOut.status).toBe(201);
    expect(bff.lastCall('createSource')).toMatchObject({ generic: { timestampHeader: '' } });
  });

  it('updates an endpoint: only the fields given change; eventTypes [] means every type', async () => {
    const res = await bff.call('POST', '/api/v1/tenants/acme/endpoints/ep_1', {
      key: bff.keys.admin,
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
    expect(bff.lastCall('updateEndpoint')).toMatchObject({
      tenant: 'acme',
      endpointId: 'ep_1',
      setEventTypes: true,
      eventTypes: [],
      enabled: false,
      maxConcurrency: 5,
      cloudeventsMode: 'structured',
      clearClientCert: false,
    });
    expect(bff.lastCall('updateEndpoint')).not.toHaveProperty('url');
    await bff.call('POST', '/api/v1/tenants/acme/endpoints/ep_1', {
      key: bff.keys.admin,
      body: { clearClientCert: true },
    });
    expect(bff.lastCall('updateEndpoint')).toMatchObject({ setEventTypes: false, clearClientCert: true });
  });

  it('sets, keeps and removes an endpoint throttle and ordering key', async () => {
    await bff.call('POST', '/api/v1/tenants/acme/endpoints', {
      key: bff.keys.admin,
      body: { url: 'https://x.example/', rateLimit: { perSecond: 2.5 }, ordering: { key: '$.customer.id' } },
    });
    expect(bff.lastCall('createEndpoint')).toMatchObject({
      ratePerSecond: 2.5,
      rateBurst: 0,
      orderingKey: '$.customer.id',
    });
    await bff.call('POST', '/api/v1/tenants/acme/endpoints/ep_1', {
      key: bff.keys.admin,
      body: { rateLimit: { perSecond: 5, burst: 10 } },
    });
    // Absent: unchanged (not sent); null: removed (rate 0, key '').
    expect(bff.lastCall('updateEndpoint')).toMatchObject({ ratePerSecond: 5, rateBurst: 10 });
    expect(bff.lastCall('updateEndpoint')).not.toHaveProperty('orderingKey');
    await bff.call('POST', '/api/v1/tenants/acme/endpoints/ep_1', {
      key: bff.keys.admin,
      body: { rateLimit: null, ordering: null },
    });
    expect(bff.lastCall('updateEndpoint')).toMatchObject({ ratePerSecond: 0, rateBurst: 0, orderingKey: '' });
  });

  it('rotates an endpoint secret (shown once), with or without a body', async () => {
    const res = await bff.call('POST', '/api/v1/tenants/acme/endpoints/ep_1/rotate-secret', {
      key: bff.keys.admin,
      body: { previousValidSeconds: 3600 },
    });
    expect(res).toMatchObject({
      status: 200,
      body: { signingSecret: SIGNING_SECRET, endpoint: { id: 'ep_1' } },
    });
    expect(bff.lastCall('rotateEndpointSecret')).toMatchObject({ endpointId: 'ep_1', previousValidS: 3600 });
    const bare = await fetch(`${bff.base()}/api/v1/tenants/acme/endpoints/ep_1/rotate-secret`, {
      method: 'POST',
      headers: { authorization: `Bearer ${bff.keys.admin}` },
    });
    expect(bare.status).toBe(200);
    expect(bff.lastCall('rotateEndpointSecret')).toMatchObject({ previousValidS: 0 });
  });
});

describe('logs', () => {
  it('record every request with its key id but never an API key or a secret', () => {
    expectLogsWithoutSecrets(bff);
  });
});
