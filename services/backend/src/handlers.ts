import { hasScopes } from '@zenmesh/auth';
import { EndpointService, SourceService, TenantService } from '@zenmesh/proto';
import { Code, type MeshServer, RpcError } from '@zenmesh/rpc';
import { createEndpoint, listEndpoints, rotateEndpointSecret, updateEndpoint } from './endpoints.js';
import { type BackendDeps, edge, RPC_SCOPES } from './handler-kit.js';
import { registerConnectionHandlers } from './handlers-connections.js';
import { signatureFailureHandler, tenantSettingsHandlers } from './handlers-operations.js';
import { registerTrafficHandlers } from './handlers-traffic.js';
import { createSource, listSources, resolveSource, rotateSourceSecret, updateSource } from './sources.js';
import { createTenant, listTenants, resolveTenant } from './tenants.js';
import { endpointToProto, sourceToProto, tenantToProto } from './to-proto.js';
import { auditActor as actorOf, createUserGuard } from './user-auth.js';

/** Registers the backend services on a mesh server (which enforces mTLS + the policy table). */
export function registerBackend(server: Pick<MeshServer, 'register'>, deps: BackendDeps): void {
  const { db, boxes } = deps;
  // Every handler the bff calls starts with one of these (the user's token, its scopes, its tenant);
  // handlers for the ingester and egress (ResolveSource, RecordEvent, LeaseDeliveries, ReportAttempt) run
  // on the workload policy alone, as no user is behind them.
  const guard = createUserGuard(db, deps.userAuth);
  const S = RPC_SCOPES;

  server.register(TenantService, {
    createTenant: (req, ctx) =>
      edge(async () => {
        const user = await guard.cluster(ctx, S.createTenant);
        return { tenant: tenantToProto(await createTenant(db, req.name, actorOf(user, req.audit, ctx))) };
      }),
    listTenants: (_req, ctx) =>
      edge(async () => {
        // A cluster-wide principal needs `admin` and sees every tenant. A tenant-bound one sees only its
        // own tenant (the bff resolves a tenant name this way before any tenant route); nothing else leaks.
        const user = await guard.user(ctx, []);
        if (user === null || user.tenantId === null) {
          if (user !== null && !hasScopes(user.scopes, S.listTenants))
            throw new RpcError(Code.PERMISSION_DENIED, 'insufficient_scope');
          return { tenants: (await listTenants(db)).map(tenantToProto) };
        }
        const own = await resolveTenant(db, user.tenantId).catch(() => undefined);
        return { tenants: own === undefined ? [] : [tenantToProto(own)] };
      }),
    ...tenantSettingsHandlers(db, guard),
  });

  server.register(SourceService, {
    createSource: (req, ctx) =>
      edge(async () => {
        const { tenantId, user } = await guard.tenant(ctx, S.createSource, req.tenant);
        const g = req.generic;
        const source = await createSource(db, boxes, {
          tenant: tenantId,
          provider: req.provider,
          name: req.name,
          secret: req.secret,
          generic:
            g === undefined
              ? undefined
              : {
                  header: g.header,
                  algorithm: g.algorithm,
                  encoding: g.encoding,
                  ...(g.prefix === undefined ? {} : { prefix: g.prefix }),
                  timestampHeader: g.timestampHeader,
                  eventTypeHeader: g.eventTypeHeader,
                  deliveryIdHeader: g.deliveryIdHeader,
                },
          toleranceSeconds: req.toleranceSeconds,
          audit: actorOf(user, req.audit, ctx),
        });
        return { source: sourceToProto(source) };
      }),
    listSources: (req, ctx) =>
      edge(async () => {
        const { tenantId } = await guard.tenant(ctx, S.listSources, req.tenant);
        return { sources: (await listSources(db, tenantId)).map(sourceToProto) };
      }),
    rotateSourceSecret: (req, ctx) =>
      edge(async () => {
        const { tenantId, user } = await guard.tenant(ctx, S.rotateSourceSecret, req.tenant);
        const source = await rotateSourceSecret(db, boxes, {
          tenant: tenantId,
          sourceId: req.sourceId,
          secret: req.secret,
          previousValidS: req.previousValidS,
          audit: actorOf(user, req.audit, ctx),
        });
        return { source: sourceToProto(source) };
      }),
    updateSource: (req, ctx) =>
      edge(async () => {
        const { tenantId, user } = await guard.tenant(ctx, S.updateSource, req.tenant);
        const source = await updateSource(db, {
          tenant: tenantId,
          sourceId: req.sourceId,
          toleranceSeconds: req.toleranceSeconds,
          routing: req.routing,
          audit: actorOf(user, req.audit, ctx),
        });
        return { source: sourceToProto(source) };
      }),
    // Ingester only (workload policy): no user is behind a webhook.
    resolveSource: (req) =>
      edge(async () => {
        const { source, secrets } = await resolveSource(db, boxes, req.sourceId);
        return { source: sourceToProto(source), secrets };
      }),
    ...signatureFailureHandler(db, deps.signatureSpike),
  });

  server.register(EndpointService, {
    createEndpoint: (req, ctx) =>
      edge(async () => {
        const { tenantId, user } = await guard.tenant(ctx, S.createEndpoint, req.tenant);
        const { endpoint, signingSecret } = await createEndpoint(db, boxes, {
          tenant: tenantId,
          url: req.url,
          eventTypes: req.eventTypes,
          maxConcurrency: req.maxConcurrency,
          cloudeventsMode: req.cloudeventsMode,
          clientCertPem: req.clientCertPem,
          clientKeyPem: req.clientKeyPem,
          ratePerSecond: req.ratePerSecond,
          rateBurst: req.rateBurst,
          orderingKey: req.orderingKey,
          audit: actorOf(user, req.audit, ctx),
        });
        return { endpoint: endpointToProto(endpoint), signingSecret };
      }),
    listEndpoints: (req, ctx) =>
      edge(async () => {
        const { tenantId } = await guard.tenant(ctx, S.listEndpoints, req.tenant);
        return { endpoints: (await listEndpoints(db, tenantId)).map(endpointToProto) };
      }),
    updateEndpoint: (req, ctx) =>
      edge(async () => {
        const { tenantId, user } = await guard.tenant(ctx, S.updateEndpoint, req.tenant);
        const endpoint = await updateEndpoint(db, boxes, {
          tenant: tenantId,
          endpointId: req.endpointId,
          url: req.url,
          eventTypes: req.setEventTypes ? req.eventTypes : undefined,
          enabled: req.enabled,
          maxConcurrency: req.maxConcurrency,
          cloudeventsMode: req.cloudeventsMode,
          clientCertPem: req.clientCertPem,
          clientKeyPem: req.clientKeyPem,
          clearClientCert: req.clearClientCert,
          ratePerSecond: req.ratePerSecond,
          rateBurst: req.rateBurst,
          orderingKey: req.orderingKey,
          audit: actorOf(user, req.audit, ctx),
        });
        return { endpoint: endpointToProto(endpoint) };
      }),
    rotateEndpointSecret: (req, ctx) =>
      edge(async () => {
        const { tenantId, user } = await guard.tenant(ctx, S.rotateEndpointSecret, req.tenant);
        const { endpoint, signingSecret } = await rotateEndpointSecret(db, boxes, {
          tenant: tenantId,
          endpointId: req.endpointId,
          previousValidS: req.previousValidS,
          audit: actorOf(user, req.audit, ctx),
        });
        return { endpoint: endpointToProto(endpoint), signingSecret };
      }),
  });
  registerConnectionHandlers(server, { db, guard });
  registerTrafficHandlers(server, { db, deps, guard });
}
