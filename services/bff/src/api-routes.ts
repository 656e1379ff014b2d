import type { IncomingMessage } from 'node:http';
import type { z } from 'zod';
import { ApiRefusal, forbidden, invalidArgument } from './api-errors.js';
import type { ApiCaller } from './api-key-auth.js';
import type { BackendClients } from './backend-clients.js';
import { readJsonBody } from './json-body.js';
import { deliveryJson, endpointJson, eventJson, sourceJson, tenantJson } from './json-mappers.js';
import {
  createEndpointBody,
  createSourceBody,
  createTenantBody,
  describeIssue,
  listQuery,
} from './request-schemas.js';

export interface RouteContext {
  caller: ApiCaller;
  req: IncomingMessage;
  params: readonly string[];
  query: URLSearchParams;
}

export interface RouteResult {
  status: number;
  body: unknown;
}

export interface Route {
  method: 'GET' | 'POST';
  pattern: RegExp;
  handle(ctx: RouteContext): Promise<RouteResult>;
}

export interface ApiRoutesOptions {
  backend: BackendClients;
  /** Public base URL of the ingester; when set, a created source's answer carries its ingest URL. */
  ingestPublicUrl?: string | undefined;
}

const TENANT_REF = /^[A-Za-z0-9_-]{1,64}$/;

function parse<S extends z.ZodType>(schema: S, value: unknown): z.output<S> {
  const result = schema.safeParse(value);
  if (!result.success) throw invalidArgument(describeIssue(result.error));
  return result.data;
}

async function jsonBody(req: IncomingMessage): Promise<unknown> {
  const body = await readJsonBody(req);
  if (body.ok) return body.value;
  if (body.reason === 'too_large') throw new ApiRefusal(413, 'payload_too_large');
  throw new ApiRefusal(400, 'invalid_json');
}

/** Cluster-level routes (creating and listing tenants) belong to cluster-wide keys only. */
function requireClusterKey(caller: ApiCaller): void {
  if (caller.tenantId !== null) throw forbidden();
}

export function createApiRoutes(options: ApiRoutesOptions): Route[] {
  const { backend } = options;
  const ingestBase = options.ingestPublicUrl?.replace(/\/+$/, '');

  /**
   * The tenant reference to hand the backend, after checking the caller may act on it. A tenant-bound key
   * may only name its own tenant (by id, or by a name that resolves to that id); the backend then gets
   * the id, so nothing can change what the name means between this check and the call.
   */
  async function authorizeTenant(caller: ApiCaller, ref: string): Promise<string> {
    if (!TENANT_REF.test(ref)) throw invalidArgument('tenant: expected a tenant id or name');
    if (caller.tenantId === null || ref === caller.tenantId) return caller.tenantId ?? ref;
    // Tenant names cannot contain '_', so an id-shaped reference that is not the caller's is refused as is.
    if (ref.startsWith('ten_')) throw forbidden();
    const { tenants } = await backend.tenants.listTenants({});
    const named = tenants.find((t) => t.name === ref);
    // An unknown name is refused like a foreign one: a tenant-bound key learns nothing about other tenants.
    if (named?.id !== caller.tenantId) throw forbidden();
    return caller.tenantId;
  }

  const tenantRoute = (
    method: Route['method'],
    suffix: string,
    handle: (ctx: RouteContext, tenant: string) => Promise<RouteResult>,
  ): Route => ({
    method,
    pattern: new RegExp(`^/api/v1/tenants/([^/]+)/${suffix}$`),
    async handle(ctx) {
      const tenant = await authorizeTenant(ctx.caller, ctx.params[0] ?? '');
      return handle(ctx, tenant);
    },
  });

  return [
    {
      method: 'POST',
      pattern: /^\/api\/v1\/tenants$/,
      async handle({ caller, req }) {
        requireClusterKey(caller);
        const input = parse(createTenantBody, await jsonBody(req));
        const { tenant } = await backend.tenants.createTenant({ name: input.name });
        if (tenant === undefined) throw new Error('CreateTenant answered without a tenant');
        return { status: 201, body: { tenant: tenantJson(tenant) } };
      },
    },
    {
      method: 'GET',
      pattern: /^\/api\/v1\/tenants$/,
      async handle({ caller }) {
        requireClusterKey(caller);
        const { tenants } = await backend.tenants.listTenants({});
        return { status: 200, body: { tenants: tenants.map(tenantJson) } };
      },
    },
    tenantRoute('POST', 'sources', async ({ req }, tenant) => {
      const input = parse(createSourceBody, await jsonBody(req));
      const { source } = await backend.sources.createSource({
        tenant,
        provider: input.provider,
        name: input.name ?? '',
        secret: input.secret,
        ...(input.generic === undefined
          ? {}
          : {
              generic: {
                header: input.generic.header ?? '',
                algorithm: input.generic.algorithm ?? '',
                encoding: input.generic.encoding ?? '',
                ...(input.generic.prefix === undefined ? {} : { prefix: input.generic.prefix }),
              },
            }),
      });
      if (source === undefined) throw new Error('CreateSource answered without a source');
      const body: Record<string, unknown> = { source: sourceJson(source) };
      if (ingestBase !== undefined)
        body.ingestUrl = `${ingestBase}/v1/webhooks/${encodeURIComponent(source.id)}`;
      return { status: 201, body };
    }),
    tenantRoute('GET', 'sources', async (_ctx, tenant) => {
      const { sources } = await backend.sources.listSources({ tenant });
      return { status: 200, body: { sources: sources.map(sourceJson) } };
    }),
    tenantRoute('POST', 'endpoints', async ({ req }, tenant) => {
      const input = parse(createEndpointBody, await jsonBody(req));
      const { endpoint, signingSecret } = await backend.endpoints.createEndpoint({
        tenant,
        url: input.url,
        eventTypes: input.eventTypes ?? [],
      });
      if (endpoint === undefined) throw new Error('CreateEndpoint answered without an endpoint');
      // The signing secret is shown exactly once, here; it is never logged (see the redaction paths).
      return { status: 201, body: { endpoint: endpointJson(endpoint), signingSecret } };
    }),
    tenantRoute('GET', 'endpoints', async (_ctx, tenant) => {
      const { endpoints } = await backend.endpoints.listEndpoints({ tenant });
      return { status: 200, body: { endpoints: endpoints.map(endpointJson) } };
    }),
    tenantRoute('GET', 'events', async ({ query }, tenant) => {
      const { limit } = parse(listQuery, { limit: query.get('limit') ?? undefined });
      const { events } = await backend.events.listEvents({ tenant, limit: limit ?? 0 });
      return { status: 200, body: { events: events.map(eventJson) } };
    }),
    tenantRoute('GET', 'deliveries', async ({ query }, tenant) => {
      const { limit, eventId } = parse(listQuery, {
        limit: query.get('limit') ?? undefined,
        eventId: query.get('eventId') ?? undefined,
      });
      const { deliveries } = await backend.deliveries.listDeliveries({
        tenant,
        limit: limit ?? 0,
        eventId: eventId ?? '',
      });
      return { status: 200, body: { deliveries: deliveries.map(deliveryJson) } };
    }),
  ];
}
