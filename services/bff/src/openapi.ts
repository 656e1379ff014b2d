import { z } from 'zod';
import type { Route, RouteDoc } from './route-kit.js';

/**
 * The OpenAPI 3.1 document of /api/v1, generated from the route table itself (each Route's pattern, method,
 * scopes and optional `doc` with zod schemas), so it cannot drift from what the app serves. JSON Schema
 * 2020-12 (OpenAPI 3.1's dialect) comes from zod's own converter. Served at GET /api/v1/openapi.json.
 */
const jsonSchema = (schema: z.ZodType, io: 'input' | 'output') =>
  z.toJSONSchema(schema, { io, unrepresentable: 'any', target: 'draft-2020-12' }) as Record<string, unknown>;

/** A path template from a route's pattern when it has none: each capture group is a named parameter. */
export function pathOf(route: Route): string {
  if (route.doc?.path !== undefined) return route.doc.path;
  let n = 0;
  return route.pattern.source
    .replace(/^\^/, '')
    .replace(/\$$/, '')
    .replace(/\((?:[^()]|\([^()]*\))*\)/g, () => `{p${++n}}`)
    .replace(/\\\//g, '/');
}

const ERROR = {
  type: 'object',
  required: ['error'],
  properties: { error: { type: 'string' }, message: { type: 'string' } },
} as const;

const errorResponse = (description: string) => ({
  description,
  content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } },
});

function operation(route: Route) {
  const doc = route.doc ?? {};
  const path = pathOf(route);
  const params = [...path.matchAll(/\{([^}]+)\}/g)].map((m) => ({
    name: m[1],
    in: 'path',
    required: true,
    schema: { type: 'string', maxLength: 64 },
  }));
  const query =
    doc.query === undefined
      ? []
      : Object.entries((jsonSchema(doc.query, 'input').properties ?? {}) as Record<string, unknown>).map(
          ([name, schema]) => ({ name, in: 'query', required: false, schema }),
        );
  // A described answer is 200 unless said otherwise; an undescribed one is any 2xx (OpenAPI 3.1 range keys).
  const status = String(doc.status ?? (doc.response === undefined ? '2XX' : 200));
  return {
    summary: doc.summary ?? `${route.method} ${path}`,
    security: [{ bearer: [] }],
    'x-scopes': [...route.scopes],
    parameters: [...params, ...query],
    ...(doc.body === undefined
      ? {}
      : {
          requestBody: {
            required: true,
            content: { 'application/json': { schema: jsonSchema(doc.body, 'input') } },
          },
        }),
    responses: {
      [status]: {
        description: 'success',
        content: {
          'application/json': {
            schema: doc.response === undefined ? { type: 'object' } : jsonSchema(doc.response, 'output'),
          },
        },
      },
      '400': errorResponse('invalid argument (the message names the field, or the backend reason)'),
      '401': errorResponse('no or invalid credentials'),
      '403': errorResponse('missing scope or another tenant'),
      '404': errorResponse('not found'),
      '409': errorResponse('already exists, or a failed precondition'),
      '413': errorResponse('request body over the limit'),
      '429': errorResponse('rate limited (Retry-After says when to come back), or an account locked out'),
    },
  };
}

/** `docs` by "METHOD path" describe routes that carry no `doc` of their own (route-docs.ts). */
export function buildOpenApi(
  routes: readonly Route[],
  docs: Readonly<Record<string, RouteDoc>> = {},
): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const route of routes) {
    const path = pathOf(route);
    const item = paths[path] ?? {};
    const doc = { ...docs[`${route.method} ${path}`], ...route.doc };
    item[route.method.toLowerCase()] = operation({ ...route, doc });
    paths[path] = item;
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'Zen Mesh admin API',
      version: '1',
      description: 'Generated from the bff route table (services/bff/src/openapi.ts).',
    },
    servers: [{ url: '/' }],
    paths,
    components: {
      schemas: { Error: ERROR },
      securitySchemes: {
        bearer: { type: 'http', scheme: 'bearer', description: 'An API key (zm_…) or an access token' },
      },
    },
  };
}
