import { newId } from '@zenmesh/crypto';
import type { Db, Tx } from '@zenmesh/db';
import { internal, invalid } from './errors.js';
import type { ExpressionCompiler } from './expression.js';
import { type EventRecord, pageSize } from './records.js';
import { insertRoutedDeliveries, loadRoutingTable, routeEvent } from './routing.js';
import { findSource } from './sources.js';
import { resolveTenant } from './tenants.js';
import { validateEventHeaders, validateEventType } from './validate.js';

export interface RecordEventInput {
  sourceId: string;
  type: string;
  time?: Date | undefined;
  datacontenttype?: string | undefined;
  data: Uint8Array;
  /** The provider's own delivery id; empty or absent when it sends none. */
  providerDeliveryId?: string | undefined;
  /** The webhook's request headers (lower-case names), which connection filters read. */
  headers?: Readonly<Record<string, string>> | undefined;
}

export interface RecordEventResult {
  event: EventRecord;
  duplicate: boolean;
  deliveryIds: string[];
}

export interface EventRow {
  id: string;
  tenant_id: string;
  source_id: string;
  source: string;
  type: string;
  time: Date;
  datacontenttype: string;
  data: Uint8Array;
  provider_delivery_id: string | null;
  received_at: Date;
  headers: Record<string, string>;
}

export const EVENT_COLUMNS =
  'id, tenant_id, source_id, source, type, time, datacontenttype, data, provider_delivery_id, received_at, headers';

export const toEvent = (r: EventRow): EventRecord => ({
  id: r.id,
  tenantId: r.tenant_id,
  sourceId: r.source_id,
  source: r.source,
  type: r.type,
  time: r.time,
  datacontenttype: r.datacontenttype,
  data: r.data,
  providerDeliveryId: r.provider_delivery_id,
  receivedAt: r.received_at,
  headers: r.headers,
});

/** Upper bound on a stored payload; the ingester enforces its own (smaller) body limit first. */
export const MAX_EVENT_BYTES = 4 * 1024 * 1024;

/** CloudEvents `source` attribute (a URI reference, CloudEvents 1.0 §3.1.1) naming the mesh source. */
export const cloudEventSource = (sourceId: string): string => `/sources/${sourceId}`;

const deliveryIdsOf = async (tx: Tx, tenantId: string, eventId: string): Promise<string[]> =>
  (
    await tx.query<{ id: string }>(
      'select id from core.deliveries where tenant_id = $1 and event_id = $2 order by id',
      [tenantId, eventId],
    )
  ).rows.map((r) => r.id);

/**
 * Stores the event and fans it out (routing.ts decides which endpoints: by the source's connections and
 * their filters, or every enabled endpoint whose event types match) in ONE transaction, so an event is never stored without
 * its deliveries. A repeated (source, provider delivery id) returns the first event with
 * `duplicate: true` and creates nothing; the partial unique index decides, so concurrent duplicates
 * are safe too (ON CONFLICT DO NOTHING waits for the first insert to commit).
 */
export async function recordEvent(
  db: Db,
  input: RecordEventInput,
  options: { expressions?: ExpressionCompiler } = {},
): Promise<RecordEventResult> {
  validateEventType(input.type);
  if (input.data.byteLength > MAX_EVENT_BYTES) throw invalid('event_too_large');
  const headers = validateEventHeaders(input.headers ?? {});
  const providerDeliveryId =
    input.providerDeliveryId === undefined || input.providerDeliveryId === ''
      ? null
      : input.providerDeliveryId;
  if (providerDeliveryId !== null && providerDeliveryId.length > 200)
    throw invalid('invalid_provider_delivery_id');
  const source = await findSource(db, input.sourceId);
  const id = newId('evt');
  return db.withTenant(source.tenantId, async (tx) => {
    const inserted = await tx.query<EventRow>(
      `insert into core.events (id, tenant_id, source_id, source, type, time, datacontenttype, data, provider_delivery_id, headers)
       values ($1, $2, $3, $4, $5, coalesce($6, now()), $7, $8, $9, $10)
       on conflict (source_id, provider_delivery_id) where provider_delivery_id is not null do nothing
       returning ${EVENT_COLUMNS}`,
      [
        id,
        source.tenantId,
        source.id,
        cloudEventSource(source.id),
        input.type,
        input.time ?? null,
        input.datacontenttype || 'application/octet-stream',
        input.data,
        providerDeliveryId,
        JSON.stringify(headers),
      ],
    );
    const row = inserted.rows[0];
    if (row === undefined) {
      // Read Committed: this statement's fresh snapshot sees the winner's committed row.
      const { rows } = await tx.query<EventRow>(
        `select ${EVENT_COLUMNS} from core.events
          where tenant_id = $1 and source_id = $2 and provider_delivery_id = $3`,
        [source.tenantId, source.id, providerDeliveryId],
      );
      const original = rows[0];
      if (original === undefined) throw internal('duplicate event vanished');
      return {
        event: toEvent(original),
        duplicate: true,
        deliveryIds: await deliveryIdsOf(tx, source.tenantId, original.id),
      };
    }
    // The fan-out: which endpoints get it and what each is sent (routing.ts).
    const table = await loadRoutingTable(tx, source, row.type);
    const routed = routeEvent(table, { ...row, headers }, options.expressions);
    const deliveryIds = await insertRoutedDeliveries(tx, source.tenantId, row.id, routed);
    return { event: toEvent(row), duplicate: false, deliveryIds };
  });
}

export async function listEvents(db: Db, tenantRef: string, limit?: number): Promise<EventRecord[]> {
  const tenant = await resolveTenant(db, tenantRef);
  return db.withTenant(tenant.id, async (tx) => {
    const { rows } = await tx.query<EventRow>(
      `select ${EVENT_COLUMNS} from core.events where tenant_id = $1 order by received_at desc, id desc limit $2`,
      [tenant.id, pageSize(limit, 50, 500)],
    );
    return rows.map(toEvent);
  });
}
