import {
  auditQuery,
  createEndpointBody,
  createSourceBody,
  createTenantBody,
  replayEndpointBody,
  rotateEndpointSecretBody,
  rotateSourceSecretBody,
  updateEndpointBody,
  updateSourceBody,
  verifyQuery,
} from './request-schemas.js';
import { answers } from './response-schemas.js';
import type { RouteDoc } from './route-kit.js';

/**
 * What the OpenAPI document (openapi.ts) says of the resource, replay and audit routes, by "METHOD path":
 * the same zod schemas the routes parse their input with, and the answers' schemas. A route's own `doc`
 * (connection-routes.ts, the search routes) takes precedence. The path template must be the route's own
 * (tenantRoute derives it), or the route stays undescribed, which test/openapi.test.ts catches.
 */
export const ROUTE_DOCS = {
  'POST /api/v1/tenants': {
    summary: 'Create a tenant',
    body: createTenantBody,
    response: answers.tenant,
    status: 201,
  },
  'GET /api/v1/tenants': { summary: 'List tenants', response: answers.tenants },
  'POST /api/v1/tenants/{tenant}/sources': {
    summary: 'Create a webhook source',
    body: createSourceBody,
    response: answers.createdSource,
    status: 201,
  },
  'GET /api/v1/tenants/{tenant}/sources': { summary: 'List sources', response: answers.sources },
  'GET /api/v1/tenants/{tenant}/events/{id}': {
    summary: 'One event, with its trace id',
    response: answers.event,
  },
  'POST /api/v1/tenants/{tenant}/sources/{id}/rotate-secret': {
    summary: 'Rotate a source secret',
    body: rotateSourceSecretBody,
    response: answers.source,
  },
  'POST /api/v1/tenants/{tenant}/sources/{id}': {
    summary: 'Change a source (tolerance, routing)',
    body: updateSourceBody,
    response: answers.source,
  },
  'POST /api/v1/tenants/{tenant}/endpoints': {
    summary: 'Create an endpoint (its signing secret is shown once)',
    body: createEndpointBody,
    response: answers.endpointWithSecret,
    status: 201,
  },
  'GET /api/v1/tenants/{tenant}/endpoints': { summary: 'List endpoints', response: answers.endpoints },
  'POST /api/v1/tenants/{tenant}/endpoints/{id}': {
    summary: 'Change an endpoint',
    body: updateEndpointBody,
    response: answers.endpoint,
  },
  'POST /api/v1/tenants/{tenant}/endpoints/{id}/rotate-secret': {
    summary: 'Rotate an endpoint signing secret (shown once)',
    body: rotateEndpointSecretBody,
    response: answers.endpointWithSecret,
  },
  'GET /api/v1/tenants/{tenant}/deliveries/{id}/attempts': {
    summary: 'Attempts of a delivery',
    response: answers.attempts,
  },
  'POST /api/v1/tenants/{tenant}/deliveries/{id}/replay': {
    summary: 'Replay one delivery',
    response: answers.delivery,
  },
  'POST /api/v1/tenants/{tenant}/endpoints/{id}/replay': {
    summary: 'Replay the dead letters of an endpoint',
    body: replayEndpointBody,
    response: answers.replay,
  },
  'POST /api/v1/tenants/{tenant}/events/{id}/replay': {
    summary: 'Replay an event',
    response: answers.replay,
  },
  'GET /api/v1/tenants/{tenant}/audit': {
    summary: "A tenant's audit log",
    query: auditQuery,
    response: answers.audit,
  },
  'GET /api/v1/audit/verify': {
    summary: 'Verify the audit chains',
    query: verifyQuery,
    response: answers.auditVerify,
  },
} satisfies Record<string, RouteDoc>;
