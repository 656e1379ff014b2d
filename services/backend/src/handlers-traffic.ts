import { timestampDate } from '@bufbuild/protobuf/wkt';
import type { Db } from '@zenmesh/db';
import { AuditService, DeliveryService, EventService, type ReportAttemptRequest } from '@zenmesh/proto';
import type { MeshServer } from '@zenmesh/rpc';
import { activeTraceparent, annotateActiveSpan } from '@zenmesh/telemetry';
import { listAudit, verifyAudit } from './audit-verify.js';
import { listAttempts } from './deliveries.js';
import { createOpenedSecrets, leaseDeliveries } from './delivery-lease.js';
import { type ReportAttemptInput, reportAttempts } from './delivery-report.js';
import { createDeliveryTenants } from './delivery-tenants.js';
import { BackendError, invalid } from './errors.js';
import { createSourceTenants, recordEvents } from './event-batch.js';
import type { RecordEventInput, RecordEventResult } from './events.js';
import { createExpressionCache } from './expression.js';
import { createGroupCommit } from './group-commit.js';
import { type BackendDeps, edge, RPC_SCOPES as S } from './handler-kit.js';
import type { DeliveryRecord } from './records.js';
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

const EVENT_ID = /^evt_[a-z2-7]{26}$/;

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
  // Concurrent RecordEvent calls share one transaction per tenant; each answers after that commit.
  const sourceTenants = createSourceTenants(db);
  const recordEvent = createGroupCommit<RecordEventInput, RecordEventResult>({
    run: (inputs) => recordEvents(db, inputs, sourceTenants, { expressions }),
  });
  // Attempt reports likewise (one transaction per tenant for all the reports of a moment).
  const deliveryTenants = createDeliveryTenants();
  const opened = createOpenedSecrets(boxes);
  const reportOptions = (reporter: string) => ({
    random: deps.random,
    health: deps.endpointHealth,
    reporter,
    tenants: deliveryTenants,
  });
  const reportAttempt = createGroupCommit<ReportAttemptInput & { reporter: string }, DeliveryRecord>({
    run: async (inputs) => {
      // One reporter per batch keeps `via` exact: split by caller (egress replicas).
      const out: Array<DeliveryRecord | Error> = new Array(inputs.length);
      const byReporter = Map.groupBy(
        inputs.map((input, i) => ({ input, i })),
        (x) => x.input.reporter,
      );
      for (const [reporter, group] of byReporter) {
        const answers = await reportAttempts(
          db,
          group.map((g) => g.input),
          reportOptions(reporter),
        );
        for (const [k, g] of group.entries()) out[g.i] = answers[k] as DeliveryRecord | Error;
      }
      return out;
    },
  });
  server.register(EventService, {
    // Ingester only (workload policy).
    recordEvent: (req) =>
      edge(async () => {
        const res = await recordEvent({
          sourceId: req.sourceId,
          type: req.type,
          time: req.time === undefined ? undefined : timestampDate(req.time),
          datacontenttype: req.datacontenttype,
          data: req.data,
          providerDeliveryId: req.providerDeliveryId,
          headers: req.headers,
          traceparent: activeTraceparent(),
        });
        annotateActiveSpan({ 'zenmesh.event.id': res.event.id, 'zenmesh.tenant.id': res.event.tenantId });
        return { event: eventToProto(res.event), duplicate: res.duplicate, deliveryIds: res.deliveryIds };
      }),
    listEvents: (req, ctx) =>
      edge(async () => {
        const { tenantId } = await guard.tenant(ctx, S.listEvents, req.tenant);
        if (req.eventId !== '' && !EVENT_ID.test(req.eventId)) throw invalid('invalid_event_id');
        const page = await searchEvents(db, tenantId, {
          limit: req.limit,
          eventId: req.eventId,
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
        // Reports first: the attempts they record free their endpoints' slots for this round.
        const reports = req.reports.map((r) => reportInput(r));
        const outcomes =
          reports.length === 0 ? [] : await reportAttempts(db, reports, reportOptions(ctx.peer.spiffeId));
        const leased =
          reports.length > 0 && req.max === 0
            ? []
            : await leaseDeliveries(db, boxes, {
                max: req.max,
                leaseMs: req.leaseMs,
                eventId: req.eventId,
                owner: ctx.peer.spiffeId,
                tenants: deliveryTenants,
                opened,
                share: req.endpointShare,
                rooms: req.rooms,
              });
        return {
          deliveries: leased.map(leasedToProto),
          reports: outcomes.map((o, i) => reportOutcome(reports[i]?.deliveryId ?? '', o)),
        };
      }),
    // Egress only (workload policy).
    reportAttempt: (req, ctx) =>
      edge(async () => {
        const delivery = await reportAttempt({ ...reportInput(req), reporter: ctx.peer.spiffeId });
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

const reportInput = (r: ReportAttemptRequest): ReportAttemptInput => ({
  deliveryId: r.deliveryId,
  leaseToken: r.leaseToken,
  statusCode: r.statusCode,
  error: r.error,
  durationMs: r.durationMs,
  retryAfterS: r.retryAfterS,
  throttledMs: r.throttledMs,
});

/** A refused report answers its reason; anything else (a store failure) fails the whole call. */
function reportOutcome(deliveryId: string, outcome: DeliveryRecord | Error) {
  if (!(outcome instanceof Error)) return { deliveryId, refusal: '', delivery: deliveryToProto(outcome) };
  if (outcome instanceof BackendError && outcome.code !== 'ERR_INTERNAL')
    return { deliveryId, refusal: outcome.reason };
  throw outcome;
}
