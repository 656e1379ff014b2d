import type { Tx } from '@zenmesh/db';
import { readConnection } from './connections.js';
import { type RoutedDelivery, type RoutingMode, routeEvent } from './routing.js';

/**
 * Replays and routing: a replay sends what the routing decides NOW, so a fixed transformation rescues
 * the deliveries its earlier version dead-lettered, and a delivery is never sent without the
 * transformation its connection asks for (a dead letter whose transformation failed has no body to send).
 */
export interface StoredEventForRouting {
  id: string;
  /** null for an operational event (notifications.ts). */
  source_id: string | null;
  type: string;
  datacontenttype: string;
  data: Uint8Array;
  headers: Record<string, string>;
}

export const ROUTING_EVENT_COLUMNS = 'id, source_id, type, datacontenttype, data, headers';

export async function readEventForRouting(
  tx: Tx,
  tenantId: string,
  eventId: string,
): Promise<StoredEventForRouting | undefined> {
  const { rows } = await tx.query<StoredEventForRouting>(
    `select ${ROUTING_EVENT_COLUMNS} from core.events where tenant_id = $1 and id = $2`,
    [tenantId, eventId],
  );
  return rows[0];
}

export const sourceRouting = async (tx: Tx, tenantId: string, sourceId: string): Promise<RoutingMode> =>
  (
    await tx.query<{ routing: RoutingMode }>(
      'select routing from core.sources where tenant_id = $1 and id = $2',
      [tenantId, sourceId],
    )
  ).rows[0]?.routing ?? 'all';

/** Why a replay of a delivery routed by a connection cannot send anything now. */
export type RerouteRefusal = 'connection_deleted' | 'filtered_out' | string;

/**
 * The request a connection-routed delivery is replayed with: its connection run again over the stored
 * event. A delivery routed without a connection (source in mode `all`) is sent as the event was stored.
 */
export async function rerouteDelivery(
  tx: Tx,
  tenantId: string,
  delivery: { connection_id: string | null; event_id: string; endpoint_id: string },
): Promise<
  { ok: true; routed: Pick<RoutedDelivery, 'body' | 'headers'> } | { ok: false; reason: RerouteRefusal }
> {
  if (delivery.connection_id === null) return { ok: true, routed: { body: null, headers: null } };
  const connection = await readConnection(tx, tenantId, delivery.connection_id);
  const event = await readEventForRouting(tx, tenantId, delivery.event_id);
  if (connection === undefined || event === undefined) return { ok: false, reason: 'connection_deleted' };
  const [routed] = routeEvent(
    {
      mode: 'connections',
      // The endpoint's own state (enabled) is checked by the replay itself.
      endpoints: [{ id: delivery.endpoint_id, eventTypes: [] }],
      connections: [connection],
    },
    event,
  );
  if (routed === undefined) return { ok: false, reason: 'filtered_out' };
  if (routed.error !== null) return { ok: false, reason: routed.error };
  return { ok: true, routed };
}

/** SQL fragment + params setting a delivery's routed body and headers (for the replay's UPDATE). */
export const routedParams = (r: Pick<RoutedDelivery, 'body' | 'headers'>): [Buffer | null, string | null] => [
  r.body === null ? null : Buffer.from(r.body),
  r.headers === null ? null : JSON.stringify(r.headers),
];
