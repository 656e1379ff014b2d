import type { IncomingMessage } from 'node:http';
import type { Scope } from '@zenmesh/auth';
import type { AuditContext } from '@zenmesh/proto';
import type { CallOptions } from '@zenmesh/rpc';
import type { z } from 'zod';
import { ApiRefusal, forbidden, invalidArgument } from './api-errors.js';
import type { ApiCaller } from './api-key-auth.js';
import type { BackendClients } from './backend-clients.js';
import { readJsonBody } from './json-body.js';
import { describeIssue } from './request-schemas.js';

export interface RouteContext {
  caller: ApiCaller;
  /** Call options carrying the caller's forwarded access token, for every backend/token call made for it. */
  call: CallOptions;
  req: IncomingMessage;
  params: readonly string[];
  query: URLSearchParams;
  /** Who asked, for the backend's audit row of a mutation: actor, the real client IP, user agent. */
  audit: Pick<AuditContext, 'actor' | 'ip' | 'userAgent'>;
}

export interface RouteResult {
  status: number;
  body: unknown;
}

/** What openapi.ts says of a route; anything left out is derived (path from the pattern) or generic. */
export interface RouteDoc {
  /** OpenAPI path template, e.g. `/api/v1/tenants/{tenant}/connections/{id}`. */
  path?: string;
  summary?: string;
  query?: z.ZodType;
  body?: z.ZodType;
  /** The success answer's body, and its status (default 200). */
  response?: z.ZodType;
  status?: number;
}

export interface Route {
  method: 'GET' | 'POST' | 'DELETE';
  pattern: RegExp;
  /** The OpenAPI description of this route (openapi.ts): generated from here, never kept by hand. */
  doc?: RouteDoc;
  /** Every one of these scopes is required (`admin` satisfies all); checked before the handler runs. */
  scopes: readonly Scope[];
  handle(ctx: RouteContext): Promise<RouteResult>;
}

const TENANT_REF = /^[A-Za-z0-9_-]{1,64}$/;

export function parse<S extends z.ZodType>(schema: S, value: unknown): z.output<S> {
  const result = schema.safeParse(value);
  if (!result.success) throw invalidArgument(describeIssue(result.error));
  return result.data;
}

export async function jsonBody(req: IncomingMessage): Promise<unknown> {
  const body = await readJsonBody(req);
  if (body.ok) return body.value;
  if (body.reason === 'too_large') throw new ApiRefusal(413, 'payload_too_large');
  throw new ApiRefusal(400, 'invalid_json');
}

/** A POST whose body is optional (`curl -X POST` sends none): no body means `{}`, any body must be JSON. */
export async function optionalJsonBody(req: IncomingMessage): Promise<unknown> {
  const declared = req.headers['content-length'];
  if (declared === '0' || (declared === undefined && req.headers['transfer-encoding'] === undefined))
    return {};
  return jsonBody(req);
}

/** Cluster-level routes (creating and listing tenants) belong to cluster-wide keys only. */
export function requireClusterKey(caller: ApiCaller): void {
  if (caller.tenantId !== null) throw forbidden();
}

/**
 * The tenant reference to hand the backend, after checking the caller may act on it. A tenant-bound key
 * may only name its own tenant (by id, or by a name that resolves to that id); the backend then gets
 * the id, so nothing can change what the name means between this check and the call. The backend checks
 * the forwarded token against the tenant again (defence in depth).
 */
export async function authorizeTenant(
  backend: BackendClients,
  caller: ApiCaller,
  ref: string,
  call: CallOptions,
): Promise<string> {
  if (!TENANT_REF.test(ref)) throw invalidArgument('tenant: expected a tenant id or name');
  if (caller.tenantId === null || ref === caller.tenantId) return caller.tenantId ?? ref;
  // Tenant names cannot contain '_', so an id-shaped reference that is not the caller's is refused as is.
  if (ref.startsWith('ten_')) throw forbidden();
  const { tenants } = await backend.tenants.listTenants({}, call);
  const named = tenants.find((t) => t.name === ref);
  // An unknown name is refused like a foreign one: a tenant-bound key learns nothing about other tenants.
  if (named?.id !== caller.tenantId) throw forbidden();
  return caller.tenantId;
}

/** Path segment of a resource id (`ep_…`, `dlv_…`): the backend decides whether it exists. */
const ID = '([A-Za-z0-9_-]{1,64})';

/**
 * A route under /api/v1/tenants/{tenant}/…; `suffix` may contain `:id` for one resource id segment,
 * handed to the handler after the tenant (already authorised and resolved).
 */
export function tenantRoute(
  backend: BackendClients,
  method: Route['method'],
  suffix: string,
  scopes: readonly Scope[],
  handle: (ctx: RouteContext, tenant: string, id: string) => Promise<RouteResult>,
  doc: RouteDoc = {},
): Route {
  return {
    method,
    pattern: new RegExp(`^/api/v1/tenants/([^/]+)/${suffix.replace(':id', ID)}$`),
    doc: { path: `/api/v1/tenants/{tenant}/${suffix.replace(':id', '{id}')}`, ...doc },
    scopes,
    async handle(ctx) {
      const tenant = await authorizeTenant(backend, ctx.caller, ctx.params[0] ?? '', ctx.call);
      return handle(ctx, tenant, ctx.params[1] ?? '');
    },
  };
}
