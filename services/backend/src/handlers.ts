import { timestampDate } from '@bufbuild/protobuf/wkt';
import { type ForwardedTokenAuthorizer, hasScopes } from '@zenmesh/auth';
import type { Db } from '@zenmesh/db';
import {
  AuditService,
  DeliveryService,
  EndpointService,
  EventService,
  SourceService,
  TenantService,
} from '@zenmesh/proto';
import { Code, type MeshServer, RpcError } from '@zenmesh/rpc';
import { listAudit, verifyAudit } from './audit-verify.js';
import { listAttempts, listDeliveries } from './deliveries.js';
import { leaseDeliveries } from './delivery-lease.js';
import { reportAttempt } from './delivery-report.js';
import type { EndpointHealthPolicy } from './endpoint-health.js';
import { createEndpoint, listEndpoints, rotateEndpointSecret, updateEndpoint } from './endpoints.js';
import type { BackendErrorCode } from './errors.js';
import { listEvents, recordEvent } from './events.js';
import { replayDelivery, replayEndpoint, replayEvent } from './replay.js';
import type { SecretBoxes } from './secrets.js';
import { createSource, listSources, resolveSource, rotateSourceSecret } from './sources.js';
import { createTenant, listTenants, resolveTenant } from './tenants.js';
import {
  attemptToProto,
  auditToProto,
  chainToProto,
  deliveryToProto,
  endpointToProto,
  eventToProto,
  leasedToProto,
  sourceToProto,
  tenantToProto,
} from './to-proto.js';
import { auditActor as actorOf, createUserGuard } from './user-auth.js';

export interface BackendDeps {
  db: Db;
  boxes: SecretBoxes;
  /** Injectable jitter source for the retry schedule (tests). */
  random?: () => number;
  /** When a failing endpoint is disabled; default 3 days and 10 failures in a row. */
  endpointHealth?: EndpointHealthPolicy;
  /**
   * Verifies the user's access token the bff forwards (`authorization` metadata) with the scopes of each
   * handler it calls. The service always sets it (main.ts); without it those handlers trust the workload
   * policy alone, which only tests and in-process embedding may rely on.
   */
  userAuth?: ForwardedTokenAuthorizer | undefined;
}

/** Scopes per user-facing RPC (the bff's /api/v1 routes require the same ones; README "Authorization"). */
export const RPC_SCOPES = {
  createTenant: ['admin'],
  listTenants: ['admin'],
  createSource: ['sources:write'],
  listSources: ['sources:read'],
  rotateSourceSecret: ['sources:write'],
  createEndpoint: ['endpoints:write'],
  listEndpoints: ['endpoints:read'],
  updateEndpoint: ['endpoints:write'],
  rotateEndpointSecret: ['endpoints:write'],
  listEvents: ['events:read'],
  listDeliveries: ['events:read'],
  listAttempts: ['events:read'],
  replay: ['replay:write'],
  audit: ['admin'],
} as const satisfies Record<string, readonly string[]>;

// ERR_INTERNAL is left out on purpose: it propagates, and the server answers INTERNAL and logs the detail.
const STATUS: Record<Exclude<BackendErrorCode, 'ERR_INTERNAL'>, Code> = {
  ERR_INVALID_ARGUMENT: Code.INVALID_ARGUMENT,
  ERR_NOT_FOUND: Code.NOT_FOUND,
  ERR_ALREADY_EXISTS: Code.ALREADY_EXISTS,
  ERR_FAILED_PRECONDITION: Code.FAILED_PRECONDITION,
};

/**
 * Turns store refusals (BackendError) into gRPC statuses with their short reason; anything else
 * propagates and the server answers INTERNAL, keeping the detail in its log.
 */
async function edge<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    const e = err as { name?: unknown; code?: unknown; reason?: unknown };
    if (e?.name === 'BackendError' && typeof e.code === 'string' && typeof e.reason === 'string') {
      const status = STATUS[e.code as keyof typeof STATUS];
      if (status !== undefined) throw new RpcError(status, e.reason, { cause: err });
    }
    throw err;
  }
}

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
    // Ingester only (workload policy): no user is behind a webhook.
    resolveSource: (req) =>
      edge(async () => {
        const { source, secrets } = await resolveSource(db, boxes, req.sourceId);
        return { source: sourceToProto(source), secrets };
      }),
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

  server.register(EventService, {
    // Ingester only (workload policy).
    recordEvent: (req) =>
      edge(async () => {
        const res = await recordEvent(db, {
          sourceId: req.sourceId,
          type: req.type,
          time: req.time === undefined ? undefined : timestampDate(req.time),
          datacontenttype: req.datacontenttype,
          data: req.data,
          providerDeliveryId: req.providerDeliveryId,
        });
        return { event: eventToProto(res.event), duplicate: res.duplicate, deliveryIds: res.deliveryIds };
      }),
    listEvents: (req, ctx) =>
      edge(async () => {
        const { tenantId } = await guard.tenant(ctx, S.listEvents, req.tenant);
        return { events: (await listEvents(db, tenantId, req.limit)).map(eventToProto) };
      }),
  });

  server.register(DeliveryService, {
    // Egress only (workload policy).
    leaseDeliveries: (req, ctx) =>
      edge(async () => {
        const leased = await leaseDeliveries(db, boxes, {
          max: req.max,
          leaseMs: req.leaseMs,
          eventId: req.eventId,
          owner: ctx.peer.spiffeId,
        });
        return { deliveries: leased.map(leasedToProto) };
      }),
    // Egress only (workload policy).
    reportAttempt: (req, ctx) =>
      edge(async () => {
        const delivery = await reportAttempt(
          db,
          {
            deliveryId: req.deliveryId,
            leaseToken: req.leaseToken,
            statusCode: req.statusCode,
            error: req.error,
            durationMs: req.durationMs,
            retryAfterS: req.retryAfterS,
          },
          { random: deps.random, health: deps.endpointHealth, reporter: ctx.peer.spiffeId },
        );
        return { delivery: deliveryToProto(delivery) };
      }),
    listDeliveries: (req, ctx) =>
      edge(async () => {
        const { tenantId } = await guard.tenant(ctx, S.listDeliveries, req.tenant);
        const list = await listDeliveries(db, tenantId, { limit: req.limit, eventId: req.eventId });
        return { deliveries: list.map(deliveryToProto) };
      }),
    listAttempts: (req, ctx) =>
      edge(async () => {
        const { tenantId } = await guard.tenant(ctx, S.listAttempts, req.tenant);
        return { attempts: (await listAttempts(db, tenantId, req.deliveryId)).map(attemptToProto) };
      }),
    replayDelivery: (req, ctx) =>
      edge(async () => {
        const { tenantId, user } = await guard.tenant(ctx, S.replay, req.tenant);
        const delivery = await replayDelivery(db, {
          tenant: tenantId,
          deliveryId: req.deliveryId,
          audit: actorOf(user, req.audit, ctx),
        });
        return { delivery: deliveryToProto(delivery) };
      }),
    replayEndpoint: (req, ctx) =>
      edge(async () => {
        const { tenantId, user } = await guard.tenant(ctx, S.replay, req.tenant);
        return replayEndpoint(db, {
          tenant: tenantId,
          endpointId: req.endpointId,
          since: req.since === undefined ? undefined : timestampDate(req.since),
          audit: actorOf(user, req.audit, ctx),
        });
      }),
    replayEvent: (req, ctx) =>
      edge(async () => {
        const { tenantId, user } = await guard.tenant(ctx, S.replay, req.tenant);
        return replayEvent(db, {
          tenant: tenantId,
          eventId: req.eventId,
          audit: actorOf(user, req.audit, ctx),
        });
      }),
  });

  server.register(AuditService, {
    listAudit: (req, ctx) =>
      edge(async () => {
        const { tenantId } = await guard.tenant(ctx, S.audit, req.tenant);
        const entries = await listAudit(db, tenantId, { limit: req.limit, afterSeq: Number(req.afterSeq) });
        return { entries: entries.map(auditToProto) };
      }),
    verifyAudit: (req, ctx) =>
      edge(async () => {
        // Every chain: a cluster-wide admin only. One tenant's chain: an admin of that tenant too.
        let tenant = '';
        if (req.tenant === '') await guard.cluster(ctx, S.audit);
        else tenant = (await guard.tenant(ctx, S.audit, req.tenant)).tenantId;
        const chains = await verifyAudit(db, tenant);
        return { chains: chains.map(chainToProto), ok: chains.every((c) => c.ok) };
      }),
  });
}
