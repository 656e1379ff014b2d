import { timestampFromDate } from '@bufbuild/protobuf/wkt';
import { ApiRefusal, UpstreamAnswerError } from './api-errors.js';
import type { BackendClients } from './backend-clients.js';
import { deliveryJson, endpointJson, eventJson, sourceJson, tenantJson } from './json-mappers.js';
import {
  createEndpointBody,
  createSourceBody,
  createTenantBody,
  deliverySearchQuery,
  eventSearchQuery,
  rotateEndpointSecretBody,
  rotateSourceSecretBody,
  updateEndpointBody,
  updateSourceBody,
} from './request-schemas.js';
import { deliveryPageSchema, eventPageSchema } from './response-schemas.js';
import {
  jsonBody,
  optionalJsonBody,
  parse,
  type Route,
  requireClusterKey,
  tenantRoute,
} from './route-kit.js';

export type { Route, RouteContext, RouteResult } from './route-kit.js';

/** `since`/`until` query values (ISO 8601) as the backend's timestamps. */
const timeRange = (q: { since?: string | undefined; until?: string | undefined }) => ({
  ...(q.since === undefined ? {} : { since: timestampFromDate(new Date(q.since)) }),
  ...(q.until === undefined ? {} : { until: timestampFromDate(new Date(q.until)) }),
});

export interface ApiRoutesOptions {
  backend: BackendClients;
  /** Public base URL of the ingester; when set, a created source's answer carries its ingest URL. */
  ingestPublicUrl?: string | undefined;
}

/** Tenants, sources, endpoints, events and deliveries (replay and audit: delivery-routes.ts). */
export function createApiRoutes(options: ApiRoutesOptions): Route[] {
  const { backend } = options;
  const ingestBase = options.ingestPublicUrl?.replace(/\/+$/, '');
  const route = (...args: Parameters<typeof tenantRoute> extends [unknown, ...infer R] ? R : never) =>
    tenantRoute(backend, ...args);

  return [
    {
      method: 'POST',
      pattern: /^\/api\/v1\/tenants$/,
      scopes: ['admin'],
      async handle({ caller, req, call, audit }) {
        requireClusterKey(caller);
        const input = parse(createTenantBody, await jsonBody(req));
        const { tenant } = await backend.tenants.createTenant({ name: input.name, audit }, call);
        if (tenant === undefined) throw new UpstreamAnswerError('CreateTenant', 'a tenant');
        return { status: 201, body: { tenant: tenantJson(tenant) } };
      },
    },
    {
      method: 'GET',
      pattern: /^\/api\/v1\/tenants$/,
      scopes: ['admin'],
      async handle({ caller, call }) {
        requireClusterKey(caller);
        const { tenants } = await backend.tenants.listTenants({}, call);
        return { status: 200, body: { tenants: tenants.map(tenantJson) } };
      },
    },
    route('POST', 'sources', ['sources:write'], async ({ req, call, audit }, tenant) => {
      const input = parse(createSourceBody, await jsonBody(req));
      const g = input.generic;
      const { source } = await backend.sources.createSource(
        {
          tenant,
          provider: input.provider,
          name: input.name ?? '',
          secret: input.secret,
          ...(g === undefined
            ? {}
            : {
                generic: {
                  header: g.header ?? '',
                  algorithm: g.algorithm ?? '',
                  encoding: g.encoding ?? '',
                  ...(g.prefix === undefined ? {} : { prefix: g.prefix }),
                  // Absent: the backend's default (a signed timestamp); '' is the explicit opt-out.
                  ...(g.timestampHeader === undefined ? {} : { timestampHeader: g.timestampHeader }),
                  eventTypeHeader: g.eventTypeHeader ?? '',
                  deliveryIdHeader: g.deliveryIdHeader ?? '',
                },
              }),
          toleranceSeconds: input.toleranceSeconds ?? 0,
          audit,
        },
        call,
      );
      if (source === undefined) throw new UpstreamAnswerError('CreateSource', 'a source');
      const body: Record<string, unknown> = { source: sourceJson(source) };
      if (ingestBase !== undefined)
        body.ingestUrl = `${ingestBase}/v1/webhooks/${encodeURIComponent(source.id)}`;
      return { status: 201, body };
    }),
    route('GET', 'sources', ['sources:read'], async ({ call }, tenant) => {
      const { sources } = await backend.sources.listSources({ tenant }, call);
      return { status: 200, body: { sources: sources.map(sourceJson) } };
    }),
    route(
      'POST',
      'sources/:id/rotate-secret',
      ['sources:write'],
      async ({ req, call, audit }, tenant, id) => {
        const input = parse(rotateSourceSecretBody, await jsonBody(req));
        const { source } = await backend.sources.rotateSourceSecret(
          {
            tenant,
            sourceId: id,
            secret: input.secret,
            previousValidS: input.previousValidSeconds ?? 0,
            audit,
          },
          call,
        );
        if (source === undefined) throw new UpstreamAnswerError('RotateSourceSecret', 'a source');
        return { status: 200, body: { source: sourceJson(source) } };
      },
    ),
    route('POST', 'sources/:id', ['sources:write'], async ({ req, call, audit }, tenant, id) => {
      const input = parse(updateSourceBody, await jsonBody(req));
      const { source } = await backend.sources.updateSource(
        {
          tenant,
          sourceId: id,
          ...(input.toleranceSeconds === undefined ? {} : { toleranceSeconds: input.toleranceSeconds }),
          ...(input.routing === undefined ? {} : { routing: input.routing }),
          audit,
        },
        call,
      );
      if (source === undefined) throw new Error('UpdateSource answered without a source');
      return { status: 200, body: { source: sourceJson(source) } };
    }),
    route('POST', 'endpoints', ['endpoints:write'], async ({ req, call, audit }, tenant) => {
      const input = parse(createEndpointBody, await jsonBody(req));
      const { endpoint, signingSecret } = await backend.endpoints.createEndpoint(
        {
          tenant,
          url: input.url,
          eventTypes: input.eventTypes ?? [],
          maxConcurrency: input.maxConcurrency ?? 0,
          cloudeventsMode: input.cloudeventsMode ?? '',
          clientCertPem: input.clientCertPem ?? '',
          clientKeyPem: input.clientKeyPem ?? '',
          ratePerSecond: input.rateLimit?.perSecond ?? 0,
          rateBurst: input.rateLimit?.burst ?? 0,
          orderingKey: input.ordering?.key ?? '',
          audit,
        },
        call,
      );
      if (endpoint === undefined) throw new UpstreamAnswerError('CreateEndpoint', 'an endpoint');
      // The signing secret is shown exactly once, here; it is never logged (see the redaction paths).
      return { status: 201, body: { endpoint: endpointJson(endpoint), signingSecret } };
    }),
    route('GET', 'endpoints', ['endpoints:read'], async ({ call }, tenant) => {
      const { endpoints } = await backend.endpoints.listEndpoints({ tenant }, call);
      return { status: 200, body: { endpoints: endpoints.map(endpointJson) } };
    }),
    route('POST', 'endpoints/:id', ['endpoints:write'], async ({ req, call, audit }, tenant, id) => {
      const input = parse(updateEndpointBody, await jsonBody(req));
      const { endpoint } = await backend.endpoints.updateEndpoint(
        {
          tenant,
          endpointId: id,
          ...(input.url === undefined ? {} : { url: input.url }),
          setEventTypes: input.eventTypes !== undefined,
          eventTypes: input.eventTypes ?? [],
          ...(input.enabled === undefined ? {} : { enabled: input.enabled }),
          ...(input.maxConcurrency === undefined ? {} : { maxConcurrency: input.maxConcurrency }),
          ...(input.cloudeventsMode === undefined ? {} : { cloudeventsMode: input.cloudeventsMode }),
          ...(input.clientCertPem === undefined ? {} : { clientCertPem: input.clientCertPem }),
          ...(input.clientKeyPem === undefined ? {} : { clientKeyPem: input.clientKeyPem }),
          clearClientCert: input.clearClientCert ?? false,
          // null removes the throttle or the ordering; absent leaves it as it is.
          ...(input.rateLimit === undefined
            ? {}
            : { ratePerSecond: input.rateLimit?.perSecond ?? 0, rateBurst: input.rateLimit?.burst ?? 0 }),
          ...(input.ordering === undefined ? {} : { orderingKey: input.ordering?.key ?? '' }),
          audit,
        },
        call,
      );
      if (endpoint === undefined) throw new UpstreamAnswerError('UpdateEndpoint', 'an endpoint');
      return { status: 200, body: { endpoint: endpointJson(endpoint) } };
    }),
    route(
      'POST',
      'endpoints/:id/rotate-secret',
      ['endpoints:write'],
      async ({ req, call, audit }, tenant, id) => {
        const input = parse(rotateEndpointSecretBody, await optionalJsonBody(req));
        const { endpoint, signingSecret } = await backend.endpoints.rotateEndpointSecret(
          { tenant, endpointId: id, previousValidS: input.previousValidSeconds ?? 0, audit },
          call,
        );
        if (endpoint === undefined) throw new UpstreamAnswerError('RotateEndpointSecret', 'an endpoint');
        // The new secret is shown exactly once, here.
        return { status: 200, body: { endpoint: endpointJson(endpoint), signingSecret } };
      },
    ),
    route(
      'GET',
      'events',
      ['events:read'],
      async ({ query, call }, tenant) => {
        const q = parse(eventSearchQuery, Object.fromEntries(query));
        const res = await backend.events.listEvents(
          {
            tenant,
            limit: q.limit ?? 0,
            sourceId: q.sourceId ?? '',
            type: q.type ?? '',
            ...timeRange(q),
            cursor: q.cursor ?? '',
          },
          call,
        );
        return {
          status: 200,
          body: { events: res.events.map(eventJson), nextCursor: res.nextCursor || null },
        };
      },
      { summary: 'Search events', query: eventSearchQuery, response: eventPageSchema },
    ),
    route('GET', 'events/:id', ['events:read'], async ({ call }, tenant, id) => {
      const { events } = await backend.events.listEvents({ tenant, limit: 1, eventId: id }, call);
      const event = events[0];
      if (event === undefined) throw new ApiRefusal(404, 'not_found', 'unknown event');
      return { status: 200, body: { event: eventJson(event) } };
    }),
    route(
      'GET',
      'deliveries',
      ['events:read'],
      async ({ query, call }, tenant) => {
        const q = parse(deliverySearchQuery, Object.fromEntries(query));
        const res = await backend.deliveries.listDeliveries(
          {
            tenant,
            limit: q.limit ?? 0,
            eventId: q.eventId ?? '',
            state: q.state ?? '',
            endpointId: q.endpointId ?? '',
            sourceId: q.sourceId ?? '',
            eventType: q.eventType ?? '',
            ...timeRange(q),
            ...(q.statusCode === undefined ? {} : { statusCode: q.statusCode }),
            cursor: q.cursor ?? '',
          },
          call,
        );
        return {
          status: 200,
          body: { deliveries: res.deliveries.map(deliveryJson), nextCursor: res.nextCursor || null },
        };
      },
      {
        summary: 'Search deliveries (state=dead: the dead letters)',
        query: deliverySearchQuery,
        response: deliveryPageSchema,
      },
    ),
  ];
}
