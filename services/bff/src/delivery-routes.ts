import { timestampFromDate } from '@bufbuild/protobuf/wkt';
import { forbidden, UpstreamAnswerError } from './api-errors.js';
import type { BackendClients } from './backend-clients.js';
import { attemptJson, auditChainJson, auditEntryJson, deliveryJson, replayJson } from './json-mappers.js';
import { auditQuery, emptyBody, replayEndpointBody, verifyQuery } from './request-schemas.js';
import { authorizeTenant, jsonBody, optionalJsonBody, parse, type Route, tenantRoute } from './route-kit.js';

/** Attempts, the three replays and the audit log (issue #6), over the backend's DeliveryService and AuditService. */
export function createDeliveryRoutes(backend: BackendClients): Route[] {
  const route = (...args: Parameters<typeof tenantRoute> extends [unknown, ...infer R] ? R : never) =>
    tenantRoute(backend, ...args);
  const routes: Route[] = [
    route('GET', 'deliveries/:id/attempts', ['events:read'], async ({ call }, tenant, id) => {
      const { attempts } = await backend.deliveries.listAttempts({ tenant, deliveryId: id }, call);
      return { status: 200, body: { attempts: attempts.map(attemptJson) } };
    }),
    route('POST', 'deliveries/:id/replay', ['replay:write'], async ({ req, call, audit }, tenant, id) => {
      parse(emptyBody, await optionalJsonBody(req));
      const { delivery } = await backend.deliveries.replayDelivery({ tenant, deliveryId: id, audit }, call);
      if (delivery === undefined) throw new UpstreamAnswerError('ReplayDelivery', 'a delivery');
      return { status: 200, body: { delivery: deliveryJson(delivery) } };
    }),
    route('POST', 'endpoints/:id/replay', ['replay:write'], async ({ req, call, audit }, tenant, id) => {
      const { since } = parse(replayEndpointBody, await jsonBody(req));
      const res = await backend.deliveries.replayEndpoint(
        { tenant, endpointId: id, since: timestampFromDate(new Date(since)), audit },
        call,
      );
      return { status: 200, body: replayJson(res) };
    }),
    route('POST', 'events/:id/replay', ['replay:write'], async ({ req, call, audit }, tenant, id) => {
      parse(emptyBody, await optionalJsonBody(req));
      const res = await backend.deliveries.replayEvent({ tenant, eventId: id, audit }, call);
      return { status: 200, body: replayJson(res) };
    }),
  ];
  const audit = backend.audit;
  if (audit === undefined) return routes;
  routes.push(
    route('GET', 'audit', ['admin'], async ({ query, call }, tenant) => {
      const q = parse(auditQuery, {
        limit: query.get('limit') ?? undefined,
        afterSeq: query.get('afterSeq') ?? undefined,
      });
      const { entries } = await audit.listAudit(
        { tenant, limit: q.limit ?? 0, afterSeq: q.afterSeq ?? 0n },
        call,
      );
      return { status: 200, body: { entries: entries.map(auditEntryJson) } };
    }),
    {
      method: 'GET',
      pattern: /^\/api\/v1\/audit\/verify$/,
      scopes: ['admin'],
      async handle({ caller, query, call }) {
        const q = parse(verifyQuery, { tenant: query.get('tenant') ?? undefined });
        // Every chain is a cluster-wide question; a tenant admin may verify its own tenant's chain.
        if (q.tenant === undefined && caller.tenantId !== null) throw forbidden();
        const tenant = q.tenant === undefined ? '' : await authorizeTenant(backend, caller, q.tenant, call);
        const res = await audit.verifyAudit({ tenant }, call);
        return { status: 200, body: { ok: res.ok, chains: res.chains.map(auditChainJson) } };
      },
    },
  );
  return routes;
}
