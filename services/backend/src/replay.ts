import type { Db, Tx } from '@zenmesh/db';
import { type AuditActor, appendAudit, SYSTEM_ACTOR } from './audit.js';
import { DELIVERY_COLUMNS } from './deliveries.js';
import { ENDPOINT_COLUMNS, type EndpointRow } from './endpoints.js';
import { BackendError, invalid, notFound } from './errors.js';
import { type DeliveryRecord, type DeliveryRow, toDelivery } from './records.js';
import { insertRoutedDeliveries, loadRoutingTable, routeEvent } from './routing.js';
import { readEventForRouting, rerouteDelivery, routedParams, sourceRouting } from './routing-replay.js';
import { resolveTenant } from './tenants.js';

/**
 * Replay puts a delivery back to `pending`, due now, with a fresh retry schedule (attempts_at_replay
 * = attempts so far; the attempt history is kept and numbering goes on). The request carries the same
 * `webhook-id` (the event id) as before, so a receiver that already processed it can tell.
 * A delivery under an unexpired lease is being delivered right now: it is left alone.
 */
const RESET = `state = 'pending', next_attempt_at = now(), attempts_at_replay = attempts,
  replays = replays + 1, dead_at = null, lease_token = null, lease_owner = null, lease_expires_at = null,
  updated_at = now()`;

const IN_FLIGHT = 'lease_token is not null and lease_expires_at > now()';

/** The routed request of a replay ($3 body, $4 headers), from rerouteDelivery. */
const ROUTED_SET = 'body = $3, headers = $4::jsonb, last_error = null';

export interface ReplayResult {
  deliveryIds: string[];
  skippedInFlight: string[];
  /** Left dead: their connection was deleted, now filters them out, or its filter/transformation fails. */
  skippedRouting: string[];
}

async function readEndpoint(tx: Tx, tenantId: string, endpointId: string): Promise<EndpointRow> {
  if (endpointId.length === 0 || endpointId.length > 64) throw notFound('endpoint_not_found');
  // Read, not locked: ReportAttempt locks a delivery and then its endpoint, so taking them the other
  // way round here could deadlock.
  const { rows } = await tx.query<EndpointRow>(
    `select ${ENDPOINT_COLUMNS} from core.endpoints where tenant_id = $1 and id = $2`,
    [tenantId, endpointId],
  );
  const row = rows[0];
  if (row === undefined) throw notFound('endpoint_not_found');
  return row;
}

const refuseDisabled = (endpoint: EndpointRow): void => {
  // Replaying to a disabled endpoint would only park the delivery again; enable it first.
  if (!endpoint.enabled) throw new BackendError('ERR_FAILED_PRECONDITION', 'endpoint_disabled');
};

/** One delivery again, whatever its state (dead, succeeded, or waiting for a retry), unless in flight. */
export async function replayDelivery(
  db: Db,
  input: { tenant: string; deliveryId: string; audit?: AuditActor | undefined },
): Promise<DeliveryRecord> {
  if (input.deliveryId.length === 0 || input.deliveryId.length > 64) throw notFound('delivery_not_found');
  const tenant = await resolveTenant(db, input.tenant);
  return db.withTenant(tenant.id, async (tx) => {
    const { rows } = await tx.query<DeliveryRow & { in_flight: boolean }>(
      `select ${DELIVERY_COLUMNS}, (${IN_FLIGHT}) as in_flight from core.deliveries
        where tenant_id = $1 and id = $2 for update`,
      [tenant.id, input.deliveryId],
    );
    const before = rows[0];
    if (before === undefined) throw notFound('delivery_not_found');
    if (before.in_flight) throw new BackendError('ERR_FAILED_PRECONDITION', 'delivery_in_flight');
    refuseDisabled(await readEndpoint(tx, tenant.id, before.endpoint_id));
    // Routed by a connection: what it makes of the event now is what is sent (routing-replay.ts).
    const rerouted = await rerouteDelivery(tx, tenant.id, before);
    if (!rerouted.ok) throw new BackendError('ERR_FAILED_PRECONDITION', rerouted.reason.slice(0, 300));
    const { rows: after } = await tx.query<DeliveryRow>(
      `update core.deliveries set ${RESET}, ${ROUTED_SET}
        where tenant_id = $1 and id = $2 returning ${DELIVERY_COLUMNS}`,
      [tenant.id, before.id, ...routedParams(rerouted.routed)],
    );
    const row = after[0];
    if (row === undefined) throw notFound('delivery_not_found');
    await appendAudit(tx, tenant.id, input.audit ?? SYSTEM_ACTOR, {
      action: 'delivery.replay',
      target: `delivery/${row.id}`,
      before: { state: before.state, attempts: before.attempts, replays: before.replays },
      after: { state: row.state, attempts: row.attempts, replays: row.replays },
    });
    return toDelivery(row);
  });
}

/** Every dead delivery of the endpoint whose event was received at or after `since`. */
export async function replayEndpoint(
  db: Db,
  input: { tenant: string; endpointId: string; since: Date | undefined; audit?: AuditActor | undefined },
): Promise<ReplayResult> {
  if (input.since === undefined || Number.isNaN(input.since.getTime())) throw invalid('since_required');
  const since = input.since;
  const tenant = await resolveTenant(db, input.tenant);
  return db.withTenant(tenant.id, async (tx) => {
    const endpoint = await readEndpoint(tx, tenant.id, input.endpointId);
    refuseDisabled(endpoint);
    const { rows: dead } = await tx.query<{
      id: string;
      connection_id: string | null;
      event_id: string;
      endpoint_id: string;
    }>(
      `select d.id, d.connection_id, d.event_id, d.endpoint_id from core.deliveries d
         join core.events e on e.tenant_id = d.tenant_id and e.id = d.event_id
        where d.tenant_id = $1 and d.endpoint_id = $2 and d.state = 'dead' and e.received_at >= $3
        order by d.id for update of d`,
      [tenant.id, endpoint.id, since],
    );
    const deliveryIds: string[] = [];
    const skippedRouting: string[] = [];
    for (const d of dead) {
      const rerouted = await rerouteDelivery(tx, tenant.id, d);
      if (!rerouted.ok) {
        skippedRouting.push(d.id);
        continue;
      }
      await tx.query(`update core.deliveries set ${RESET}, ${ROUTED_SET} where tenant_id = $1 and id = $2`, [
        tenant.id,
        d.id,
        ...routedParams(rerouted.routed),
      ]);
      deliveryIds.push(d.id);
    }
    await appendAudit(tx, tenant.id, input.audit ?? SYSTEM_ACTOR, {
      action: 'endpoint.replay',
      target: `endpoint/${endpoint.id}`,
      before: null,
      after: { since: since.toISOString(), replayed: deliveryIds.length, skippedRouting },
    });
    return { deliveryIds, skippedInFlight: [], skippedRouting };
  });
}

/**
 * The event to every endpoint the routing picks now (routing.ts: the source's mode and connections, their
 * filters and transformations): existing deliveries are replayed (unless in flight, or their routing now
 * fails), endpoints routed to since the event get a new delivery (dead at once if its routing fails).
 */
export async function replayEvent(
  db: Db,
  input: { tenant: string; eventId: string; audit?: AuditActor | undefined },
): Promise<ReplayResult> {
  if (input.eventId.length === 0 || input.eventId.length > 64) throw notFound('event_not_found');
  const tenant = await resolveTenant(db, input.tenant);
  return db.withTenant(tenant.id, async (tx) => {
    if (input.eventId.length === 0) throw notFound('event_not_found');
    const event = await readEventForRouting(tx, tenant.id, input.eventId);
    if (event === undefined) throw notFound('event_not_found');
    // An operational event went to the notification endpoint only; its delivery can be replayed, not re-routed.
    if (event.source_id === null) throw new BackendError('ERR_FAILED_PRECONDITION', 'operational_event');
    // Routed as a new event would be now: the source's mode, its connections, their filters (routing.ts).
    const routing = await sourceRouting(tx, tenant.id, event.source_id);
    const table = await loadRoutingTable(
      tx,
      { id: event.source_id, tenantId: tenant.id, routing },
      event.type,
    );
    const routed = routeEvent(table, event);
    const byEndpoint = new Map(routed.map((r) => [r.endpointId, r]));
    const { rows: existing } = await tx.query<{ id: string; endpoint_id: string; in_flight: boolean }>(
      `select id, endpoint_id, (${IN_FLIGHT}) as in_flight from core.deliveries
        where tenant_id = $1 and event_id = $2 and endpoint_id = any($3) order by id for update`,
      [tenant.id, event.id, [...byEndpoint.keys()]],
    );
    const skippedInFlight = existing.filter((d) => d.in_flight).map((d) => d.id);
    const again: string[] = [];
    const skippedRouting: string[] = [];
    for (const d of existing.filter((x) => !x.in_flight)) {
      const r = byEndpoint.get(d.endpoint_id);
      if (r === undefined) continue;
      if (r.error !== null) {
        skippedRouting.push(d.id);
        continue;
      }
      await tx.query(
        `update core.deliveries set ${RESET}, ${ROUTED_SET}, connection_id = $5 where tenant_id = $1 and id = $2`,
        [tenant.id, d.id, ...routedParams(r), r.connectionId],
      );
      again.push(d.id);
    }
    const covered = new Set(existing.map((d) => d.endpoint_id));
    // ON CONFLICT: a concurrent replay of the same event may have created it a moment ago.
    const created = await insertRoutedDeliveries(
      tx,
      tenant.id,
      event.id,
      routed.filter((r) => !covered.has(r.endpointId) && r.error === null),
      { onConflictDoNothing: true },
    );
    const deliveryIds = [...again, ...created].sort();
    await appendAudit(tx, tenant.id, input.audit ?? SYSTEM_ACTOR, {
      action: 'event.replay',
      target: `event/${event.id}`,
      before: null,
      after: { deliveryIds, skippedInFlight, skippedRouting },
    });
    return { deliveryIds, skippedInFlight, skippedRouting };
  });
}
