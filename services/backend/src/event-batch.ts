import { newId } from '@zenmesh/crypto';
import { type Db, prepared, type Tx } from '@zenmesh/db';
import { LRUCache } from 'lru-cache';
import { internal } from './errors.js';
import {
  cloudEventSource,
  EVENT_COLUMNS,
  type EventRow,
  type RecordEventInput,
  type RecordEventResult,
  toEvent,
  validateEventInput,
} from './events.js';
import type { ExpressionCompiler } from './expression.js';
import {
  insertRoutedBatch,
  loadRoutingTable,
  type RoutingMode,
  type RoutingTable,
  routeEvent,
} from './routing.js';
import { findSource } from './sources.js';

/** Which tenant owns a source. A source never changes tenant, so a found answer can be kept. */
export interface SourceTenants {
  tenantOf(sourceId: string): Promise<string>;
}

export function createSourceTenants(db: Db, max = 10_000): SourceTenants {
  const known = new LRUCache<string, string>({ max });
  return {
    async tenantOf(sourceId) {
      const hit = known.get(sourceId);
      if (hit !== undefined) return hit;
      const { tenantId } = await findSource(db, sourceId);
      known.set(sourceId, tenantId);
      return tenantId;
    },
  };
}

export const uncachedSourceTenants = (db: Db): SourceTenants => ({
  tenantOf: async (sourceId) => (await findSource(db, sourceId)).tenantId,
});

interface Pending {
  index: number;
  id: string;
  input: RecordEventInput;
  providerDeliveryId: string | null;
  headers: Record<string, string>;
}

// One statement for the whole batch, whatever its size (arrays, not per-row placeholders), so it is
// prepared once per connection: the events inserted — a repeated (source, provider delivery id) skipped —
// each with its source's routing mode, read in the same transaction (it can change).
const INSERT_EVENTS = prepared(
  'zm_record_events',
  `with ins as (
     insert into core.events (id, tenant_id, source_id, source, type, time, datacontenttype, data, provider_delivery_id, traceparent, headers)
     select i, $1, s, cs, t, coalesce(tm::timestamptz, now()), ct, decode(b, 'hex'), pd, tp, h::jsonb
       from unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[], $10::text[], $11::text[])
         as v(i, s, cs, t, tm, ct, b, pd, tp, h)
     on conflict (source_id, provider_delivery_id) where provider_delivery_id is not null do nothing
     returning ${EVENT_COLUMNS})
   select ins.*, src.routing from ins left join core.sources src on src.tenant_id = $1 and src.id = ins.source_id`,
);

interface Inserted {
  rows: Map<string, EventRow>;
  modes: Map<string, RoutingMode>;
}

/** The batch's events in one insert (see INSERT_EVENTS), and the routing mode of each source. */
async function insertEvents(tx: Tx, tenantId: string, items: Pending[]): Promise<Inserted> {
  const col = <T>(f: (p: Pending) => T): T[] => items.map(f);
  const { rows } = await tx.query<EventRow & { routing: RoutingMode | null }>(INSERT_EVENTS, [
    tenantId,
    col((p) => p.id),
    col((p) => p.input.sourceId),
    col((p) => cloudEventSource(p.input.sourceId)),
    col((p) => p.input.type),
    col((p) => p.input.time?.toISOString() ?? null),
    col((p) => p.input.datacontenttype || 'application/octet-stream'),
    // Hex text: both drivers (pg, PGlite) pass text arrays the same way.
    col((p) =>
      Buffer.from(p.input.data.buffer, p.input.data.byteOffset, p.input.data.byteLength).toString('hex'),
    ),
    col((p) => p.providerDeliveryId),
    col((p) => p.input.traceparent ?? null),
    col((p) => JSON.stringify(p.headers)),
  ]);
  const modes = new Map<string, RoutingMode>();
  const out = new Map<string, EventRow>();
  for (const { routing, ...row } of rows) {
    out.set(row.id, row);
    if (routing !== null) modes.set(row.source_id, routing);
  }
  return { rows: out, modes };
}

/** Read Committed: this statement's fresh snapshot sees the winners' committed rows. */
async function originalsOf(tx: Tx, tenantId: string, items: Pending[]): Promise<Map<string, EventRow>> {
  const key = (sourceId: string, deliveryId: string | null) => `${sourceId}\0${deliveryId}`;
  const { rows } = await tx.query<EventRow>(
    `select ${EVENT_COLUMNS} from core.events
      where tenant_id = $1 and source_id = any($2) and provider_delivery_id = any($3)`,
    [tenantId, [...new Set(items.map((i) => i.input.sourceId))], items.map((i) => i.providerDeliveryId)],
  );
  const byKey = new Map(rows.map((r) => [key(r.source_id, r.provider_delivery_id), r]));
  return new Map(
    items.flatMap((i) => {
      const row = byKey.get(key(i.input.sourceId, i.providerDeliveryId));
      return row === undefined ? [] : [[i.id, row] as const];
    }),
  );
}

async function deliveryIdsByEvent(
  tx: Tx,
  tenantId: string,
  eventIds: string[],
): Promise<Map<string, string[]>> {
  const out = new Map<string, string[]>(eventIds.map((id) => [id, []]));
  if (eventIds.length === 0) return out;
  const { rows } = await tx.query<{ id: string; event_id: string }>(
    'select id, event_id from core.deliveries where tenant_id = $1 and event_id = any($2) order by id',
    [tenantId, eventIds],
  );
  for (const r of rows) out.get(r.event_id)?.push(r.id);
  return out;
}

/** Stores one tenant's batch and its fan-out in the transaction `tx`; answers in the order of `items`. */
async function writeTenantBatch(
  tx: Tx,
  tenantId: string,
  items: Pending[],
  expressions: ExpressionCompiler | undefined,
): Promise<Array<RecordEventResult | Error>> {
  const { rows: inserted, modes } = await insertEvents(tx, tenantId, items);

  // The fan-out (routing.ts): by the source's connections and their filters, or every enabled endpoint of
  // the tenant whose event types match; one routing table per (source, type) in the batch.
  const fresh = items.filter((i) => inserted.has(i.id));
  const tables = new Map<string, Promise<RoutingTable>>();
  const perEvent = [];
  for (const item of fresh) {
    const { sourceId, type } = item.input;
    const key = `${sourceId}\0${type}`;
    let table = tables.get(key);
    if (table === undefined) {
      const routing = modes.get(sourceId) ?? 'all';
      table = loadRoutingTable(tx, { id: sourceId, tenantId, routing }, type);
      tables.set(key, table);
    }
    const row = inserted.get(item.id) as EventRow;
    perEvent.push({
      eventId: item.id,
      routed: routeEvent(await table, { ...row, headers: item.headers }, expressions),
    });
  }
  const created = await insertRoutedBatch(tx, tenantId, perEvent);
  // Repeats answer with the first event; one inserted earlier in this batch has its deliveries in `created`.
  const repeated = items.filter((i) => !inserted.has(i.id));
  const originals =
    repeated.length === 0 ? new Map<string, EventRow>() : await originalsOf(tx, tenantId, repeated);
  const older = [...new Set([...originals.values()].map((r) => r.id))].filter((id) => !created.has(id));
  const originalDeliveries = new Map([...created, ...(await deliveryIdsByEvent(tx, tenantId, older))]);
  return items.map((item) => {
    const row = inserted.get(item.id);
    if (row !== undefined)
      return { event: toEvent(row), duplicate: false, deliveryIds: created.get(item.id) ?? [] };
    const original = originals.get(item.id);
    if (original === undefined) return internal('duplicate event vanished');
    return {
      event: toEvent(original),
      duplicate: true,
      deliveryIds: originalDeliveries.get(original.id) ?? [],
    };
  });
}

/** A statement failed, so the server rolled the transaction back: writing its items again is safe. */
const rolledBack = (err: unknown): boolean => typeof (err as { sqlState?: unknown }).sqlState === 'string';

/**
 * Stores a batch of events, each with its deliveries, in ONE transaction per tenant (RLS scope), so an
 * event is never stored without its deliveries. A repeated (source, provider delivery id) — across calls
 * or inside the batch — answers with the first event and `duplicate: true` and creates nothing; the
 * partial unique index decides. Answers in input order; an invalid item fails alone. When a tenant's
 * transaction fails on a statement, its items are written again one by one (only the bad one fails).
 */
export async function recordEvents(
  db: Db,
  inputs: RecordEventInput[],
  sources: SourceTenants = uncachedSourceTenants(db),
  options: { expressions?: ExpressionCompiler } = {},
): Promise<Array<RecordEventResult | Error>> {
  const out: Array<RecordEventResult | Error> = new Array(inputs.length);
  const byTenant = new Map<string, Pending[]>();
  await Promise.all(
    inputs.map(async (input, index) => {
      try {
        const { providerDeliveryId, headers } = validateEventInput(input);
        const tenantId = await sources.tenantOf(input.sourceId);
        const list = byTenant.get(tenantId) ?? [];
        list.push({ index, id: newId('evt'), input, providerDeliveryId, headers });
        byTenant.set(tenantId, list);
      } catch (err) {
        out[index] = err as Error;
      }
    }),
  );
  const write = async (tenantId: string, items: Pending[]): Promise<void> => {
    try {
      const answers = await db.withTenant(tenantId, (tx) =>
        writeTenantBatch(tx, tenantId, items, options.expressions),
      );
      for (const [i, item] of items.entries()) out[item.index] = answers[i] as RecordEventResult | Error;
    } catch (err) {
      if (items.length > 1 && rolledBack(err)) {
        for (const item of items) await write(tenantId, [item]);
        return;
      }
      for (const item of items) out[item.index] = err as Error;
    }
  };
  await Promise.all([...byTenant].map(([tenantId, items]) => write(tenantId, items)));
  return out;
}

/** One event (see recordEvents); throws what that item failed with. */
export async function recordEvent(
  db: Db,
  input: RecordEventInput,
  sources?: SourceTenants,
  options: { expressions?: ExpressionCompiler } = {},
): Promise<RecordEventResult> {
  const [answer] = await recordEvents(db, [input], sources, options);
  if (answer === undefined) throw internal('recordEvents answered nothing');
  if (answer instanceof Error) throw answer;
  return answer;
}
