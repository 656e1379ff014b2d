import { timestampDate } from '@bufbuild/protobuf/wkt';
import type { Db } from '@zenmesh/db';
import { AuditService, DeliveryService, EventService } from '@zenmesh/proto';
import type { MeshServer } from '@zenmesh/rpc';
import { listAudit, verifyAudit } from './audit-verify.js';
import { listAttempts } from './deliveries.js';
import { leaseDeliveries } from './delivery-lease.js';
import { reportAttempt } from './delivery-report.js';
import { recordEvent } from './events.js';
import { createExpressionCache } from './expression.js';
import { type BackendDeps, edge, RPC_SCOPES as S } from './handler-kit.js';
import { replayDelivery, replayEndpoint, replayEvent } from './replay.js';
import { searchDeliveries, searchEvents } from './search.js';
import {
  attemptToProto,
  auditToProto,
  chainToProto,
  deliveryToProto,
  eventToProto,
  leasedToProto,
} from './to-proto.js';
import { auditActor as actorOf, type UserGuard } from './user-auth.js';

/**
 * EventService, DeliveryService and AuditService: the traffic of the mesh (events recorded by the ingester,
 * deliveries leased and reported by egress) and what operators read and replay of it through the bff.
 */
export function registerTrafficHandlers(
  server: Pick<MeshServer, 'register'>,
  ctx: {
    db: Db;
    deps: BackendDeps;
    guard: UserGuard;
  },
): void {
  const { db, deps, guard } = ctx;
  const { boxes } = deps;
  // Compiled connection filters and transformations, kept for the fan-out of every RecordEvent.
  const expressions = createExpressionCache();
  server.register(EventService, {
    // Ingester only (workload policy).
    recordEvent: (req) =>
      edge(async () => {
        const res = await recordEvent(
          db,
          {
            sourceId: req.sourceId,
            type: req.type,
            time: req.time === undefined ? undefined : timestampDate(req.time),
            datacontenttype: req.datacontenttype,
            data: req.data,
            providerDeliveryId: req.providerDeliveryId,
            headers: req.headers,
          },
          { expressions },
        );
        return { event: eventToProto(res.event), duplicate: res.duplicate, deliveryIds: res.deliveryIds };
      }),
    listEvents: (req, ctx) =>
      edge(async () => {
        const { tenantId } = await guard.tenant(ctx, S.listEvents, req.tenant);
        const page = await searchEvents(db, tenantId, {
          limit: req.limit,
          sourceId: req.sourceId,
          type: req.type,
          since: req.since === undefined ? undefined : timestampDate(req.since),
          until: req.until === undefined ? undefined : timestampDate(req.until),
          cursor: req.cursor,
        });
        return { events: page.items.map(eventToProto), nextCursor: page.nextCursor };
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
        const page = await searchDeliveries(db, tenantId, {
          limit: req.limit,
          eventId: req.eventId,
          state: req.state,
          endpointId: req.endpointId,
          sourceId: req.sourceId,
          eventType: req.eventType,
          since: req.since === undefined ? undefined : timestampDate(req.since),
          until: req.until === undefined ? undefined : timestampDate(req.until),
          statusCode: req.statusCode,
          cursor: req.cursor,
        });
        return { deliveries: page.items.map(deliveryToProto), nextCursor: page.nextCursor };
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
