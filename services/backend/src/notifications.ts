import { newId } from '@zenmesh/crypto';
import type { Db, Tx } from '@zenmesh/db';
import { insertRoutedDeliveries } from './routing.js';

/** The operational event types (CloudEvents `type`), docs/notifications.md. */
export type OperationalEventType =
  | 'zenmesh.endpoint.disabled'
  | 'zenmesh.source.signature_failures'
  | 'zenmesh.ca.rotation.rolled_back';

export interface OperationalEvent {
  type: OperationalEventType;
  /** What it is about (`endpoint/ep_…`, `source/src_…`, `ca/rotation/…`), also in the body as `subject`. */
  subject: string;
  /**
   * One event per key and tenant, whoever emits it and however often (two backend replicas polling the CA,
   * a retried report): the unique index events_operational_key decides.
   */
  dedupeKey: string;
  data: Record<string, unknown>;
}

/** CloudEvents `source` of every operational event (a URI reference, CloudEvents 1.0 §3.1.1). */
export const OPERATIONAL_SOURCE = '/zenmesh';

export interface EmittedNotification {
  eventId: string;
  deliveryId: string;
  endpointId: string;
}

/**
 * Stores an operational event in the caller's tenant transaction and one pending delivery of it to the
 * tenant's notification endpoint, so egress signs it (Standard Webhooks) and retries it like any delivery.
 * Nothing when the tenant has no notification endpoint or the key was emitted before.
 */
export async function emitOperationalEvent(
  tx: Tx,
  tenantId: string,
  event: OperationalEvent,
): Promise<EmittedNotification | undefined> {
  const { rows: settings } = await tx.query<{ notification_endpoint_id: string | null }>(
    'select notification_endpoint_id from core.tenants where id = $1',
    [tenantId],
  );
  const endpointId = settings[0]?.notification_endpoint_id ?? null;
  if (endpointId === null) return undefined;
  const id = newId('evt');
  const body = JSON.stringify({ subject: event.subject, tenantId, ...event.data });
  const { rows } = await tx.query<{ id: string }>(
    `insert into core.events (id, tenant_id, source_id, origin, source, type, time, datacontenttype, data, provider_delivery_id)
     values ($1, $2, null, 'zenmesh', $3, $4, now(), 'application/json', $5, $6)
     on conflict (tenant_id, provider_delivery_id) where origin = 'zenmesh' do nothing
     returning id`,
    [id, tenantId, OPERATIONAL_SOURCE, event.type, Buffer.from(body, 'utf8'), event.dedupeKey.slice(0, 500)],
  );
  if (rows.length === 0) return undefined;
  const [deliveryId] = await insertRoutedDeliveries(tx, tenantId, id, [
    { endpointId, connectionId: null, body: null, headers: null, error: null },
  ]);
  if (deliveryId === undefined) return undefined;
  return { eventId: id, deliveryId, endpointId };
}

/** Every tenant with a notification endpoint, for cluster-level events (a CA rollback). */
export async function tenantsWithNotifications(db: Db): Promise<string[]> {
  const { rows } = await db.query<{ id: string }>(
    'select id from core.list_tenants() where notification_endpoint_id is not null',
  );
  return rows.map((r) => r.id);
}
