import { newId } from '@zenmesh/crypto';
import type { Db, Tx } from '@zenmesh/db';
import { type AuditActor, appendAudit, SYSTEM_ACTOR } from './audit.js';
import { DELIVERY_COLUMNS } from './deliveries.js';
import { ENDPOINT_COLUMNS, type EndpointRow } from './endpoints.js';
import { BackendError, invalid, notFound } from './errors.js';
import { type DeliveryRecord, type DeliveryRow, toDelivery } from './records.js';
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

export interface ReplayResult {
  deliveryIds: string[];
  skippedInFlight: string[];
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
    const { rows: after } = await tx.query<DeliveryRow>(
      `update core.deliveries set ${RESET} where tenant_id = $1 and id = $2 returning ${DELIVERY_COLUMNS}`,
      [tenant.id, before.id],
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
    const { rows } = await tx.query<{ id: string }>(
      `update core.deliveries d set ${RESET}
         from core.events e
        where d.tenant_id = $1 and d.endpoint_id = $2 and d.state = 'dead'
          and e.tenant_id = d.tenant_id and e.id = d.event_id and e.received_at >= $3
        returning d.id`,
      [tenant.id, endpoint.id, since],
    );
    const deliveryIds = rows.map((r) => r.id).sort();
    await appendAudit(tx, tenant.id, input.audit ?? SYSTEM_ACTOR, {
      action: 'endpoint.replay',
      target: `endpoint/${endpoint.id}`,
      before: null,
      after: { since: since.toISOString(), replayed: deliveryIds.length },
    });
    return { deliveryIds, skippedInFlight: [] };
  });
}

/**
 * The event to every enabled endpoint whose filter matches it now: existing deliveries are replayed
 * (unless in flight), endpoints added since the event get a new delivery.
 */
export async function replayEvent(
  db: Db,
  input: { tenant: string; eventId: string; audit?: AuditActor | undefined },
): Promise<ReplayResult> {
  if (input.eventId.length === 0 || input.eventId.length > 64) throw notFound('event_not_found');
  const tenant = await resolveTenant(db, input.tenant);
  return db.withTenant(tenant.id, async (tx) => {
    const { rows: events } = await tx.query<{ id: string; type: string }>(
      'select id, type from core.events where tenant_id = $1 and id = $2',
      [tenant.id, input.eventId],
    );
    const event = events[0];
    if (event === undefined) throw notFound('event_not_found');
    const { rows: endpoints } = await tx.query<{ id: string }>(
      `select id from core.endpoints
        where tenant_id = $1 and enabled and (cardinality(event_types) = 0 or $2 = any(event_types))
        order by id`,
      [tenant.id, event.type],
    );
    const endpointIds = endpoints.map((e) => e.id);
    const { rows: existing } = await tx.query<{ id: string; endpoint_id: string; in_flight: boolean }>(
      `select id, endpoint_id, (${IN_FLIGHT}) as in_flight from core.deliveries
        where tenant_id = $1 and event_id = $2 and endpoint_id = any($3) order by id for update`,
      [tenant.id, event.id, endpointIds],
    );
    const skippedInFlight = existing.filter((d) => d.in_flight).map((d) => d.id);
    const again = existing.filter((d) => !d.in_flight).map((d) => d.id);
    if (again.length > 0) {
      await tx.query(`update core.deliveries set ${RESET} where tenant_id = $1 and id = any($2)`, [
        tenant.id,
        again,
      ]);
    }
    const covered = new Set(existing.map((d) => d.endpoint_id));
    const missing = endpointIds.filter((id) => !covered.has(id));
    let created: string[] = [];
    if (missing.length > 0) {
      // ON CONFLICT: a concurrent replay of the same event may have created it a moment ago.
      const { rows: inserted } = await tx.query<{ id: string }>(
        `insert into core.deliveries (id, tenant_id, event_id, endpoint_id, state, next_attempt_at)
         select d, $2, $3, e, 'pending', now() from unnest($1::text[], $4::text[]) as t(d, e)
         on conflict (event_id, endpoint_id) do nothing returning id`,
        [missing.map(() => newId('dlv')), tenant.id, event.id, missing],
      );
      created = inserted.map((r) => r.id);
    }
    const deliveryIds = [...again, ...created].sort();
    await appendAudit(tx, tenant.id, input.audit ?? SYSTEM_ACTOR, {
      action: 'event.replay',
      target: `event/${event.id}`,
      before: null,
      after: { deliveryIds, skippedInFlight },
    });
    return { deliveryIds, skippedInFlight };
  });
}
