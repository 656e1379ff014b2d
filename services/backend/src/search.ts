import type { Db } from '@zenmesh/db';
import { DELIVERY_COLUMNS } from './deliveries.js';
import { DELIVERY_STATES, type DeliveryStateName } from './delivery-state.js';
import { invalid } from './errors.js';
import { EVENT_COLUMNS, type EventRow, toEvent } from './events.js';
import { type DeliveryRecord, type DeliveryRow, type EventRecord, pageSize, toDelivery } from './records.js';
import { resolveTenant } from './tenants.js';
import { validateEventType } from './validate.js';

/**
 * Search and state filters over events and deliveries with keyset (cursor) pagination: each page is
 * ordered newest first by (time, id), and the cursor is the last row's (time, id), so pages never skip or
 * repeat a row however many arrive meanwhile. A cursor is opaque to callers (base64url JSON); a malformed
 * one is refused (`invalid_cursor`), never guessed at.
 */
export interface Page<T> {
  items: T[];
  /** '' on the last page. */
  nextCursor: string;
}

interface Cursor {
  /** The row's time as Postgres prints a timestamptz: microseconds survive (a JS Date would drop them). */
  t: string;
  id: string;
}

const PG_TIMESTAMP = /^\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2}(?:\.\d{1,6})?(?:Z|[+-]\d{2}(?::?\d{2})?)$/;

export const encodeCursor = (c: Cursor): string => Buffer.from(JSON.stringify(c)).toString('base64url');

export function decodeCursor(raw: string): Cursor | undefined {
  if (raw === '') return undefined;
  if (raw.length > 200 || !/^[A-Za-z0-9_-]+$/.test(raw)) throw invalid('invalid_cursor');
  try {
    const c = JSON.parse(Buffer.from(raw, 'base64url').toString('utf8')) as Partial<Cursor>;
    if (typeof c.t === 'string' && typeof c.id === 'string' && PG_TIMESTAMP.test(c.t) && c.id.length <= 64) {
      return { t: c.t, id: c.id };
    }
  } catch {
    // fall through
  }
  throw invalid('invalid_cursor');
}

/** Builds the WHERE clause: each condition with its own numbered parameter. */
class Where {
  readonly params: unknown[] = [];
  readonly parts: string[] = [];
  add(sql: (p: string) => string, value: unknown): void {
    this.params.push(value);
    this.parts.push(sql(`$${this.params.length}`));
  }
  get sql(): string {
    return this.parts.join(' and ');
  }
}

/** Exact type, or `prefix.*`: every type under that prefix. */
function typeCondition(where: Where, column: string, type: string): void {
  if (type === '') return;
  if (type.endsWith('.*') && !type.slice(0, -2).includes('*')) {
    const prefix = validateEventType(type.slice(0, -2));
    // starts_with, not LIKE: a % or _ in a type is literal.
    where.add((p) => `starts_with(${column}, ${p})`, `${prefix}.`);
    return;
  }
  if (type.includes('*')) throw invalid('invalid_event_type_pattern');
  where.add((p) => `${column} = ${p}`, validateEventType(type));
}

function timeRange(where: Where, column: string, since?: Date, until?: Date): void {
  if (since !== undefined) where.add((p) => `${column} >= ${p}`, since);
  if (until !== undefined) where.add((p) => `${column} < ${p}`, until);
}

function keyset(where: Where, timeColumn: string, idColumn: string, cursor: Cursor | undefined): void {
  if (cursor === undefined) return;
  where.params.push(cursor.t, cursor.id);
  const n = where.params.length;
  where.parts.push(`(${timeColumn}, ${idColumn}) < ($${n - 1}::timestamptz, $${n})`);
}

const checkId = (id: string | undefined): string | undefined => {
  if (id === undefined || id === '') return undefined;
  if (id.length > 64) throw invalid('invalid_id');
  return id;
};

export interface EventSearch {
  limit?: number | undefined;
  /** Only this event (an id already checked by the caller). */
  eventId?: string | undefined;
  sourceId?: string | undefined;
  type?: string | undefined;
  since?: Date | undefined;
  until?: Date | undefined;
  cursor?: string | undefined;
}

export async function searchEvents(
  db: Db,
  tenantRef: string,
  q: EventSearch = {},
): Promise<Page<EventRecord>> {
  const cursor = decodeCursor(q.cursor ?? '');
  const limit = pageSize(q.limit, 50, 500);
  const tenant = await resolveTenant(db, tenantRef);
  const where = new Where();
  where.add((p) => `tenant_id = ${p}`, tenant.id);
  if (q.eventId) where.add((p) => `id = ${p}`, q.eventId);
  const source = checkId(q.sourceId);
  if (source !== undefined) where.add((p) => `source_id = ${p}`, source);
  typeCondition(where, 'type', q.type ?? '');
  timeRange(where, 'received_at', q.since, q.until);
  keyset(where, 'received_at', 'id', cursor);
  return db.withTenant(tenant.id, async (tx) => {
    const { rows } = await tx.query<EventRow & { cursor_t: string }>(
      `select ${EVENT_COLUMNS}, received_at::text as cursor_t from core.events where ${where.sql}
        order by received_at desc, id desc limit ${limit + 1}`,
      where.params,
    );
    const page = rows.slice(0, limit);
    const last = page.at(-1);
    return {
      items: page.map(toEvent),
      nextCursor:
        rows.length > limit && last !== undefined ? encodeCursor({ t: last.cursor_t, id: last.id }) : '',
    };
  });
}

export interface DeliverySearch {
  limit?: number | undefined;
  eventId?: string | undefined;
  state?: string | undefined;
  endpointId?: string | undefined;
  sourceId?: string | undefined;
  eventType?: string | undefined;
  since?: Date | undefined;
  until?: Date | undefined;
  statusCode?: number | undefined;
  cursor?: string | undefined;
}

export async function searchDeliveries(
  db: Db,
  tenantRef: string,
  q: DeliverySearch = {},
): Promise<Page<DeliveryRecord>> {
  const cursor = decodeCursor(q.cursor ?? '');
  const limit = pageSize(q.limit, 50, 500);
  if (q.state !== undefined && q.state !== '' && !DELIVERY_STATES.includes(q.state as DeliveryStateName)) {
    throw invalid('invalid_state');
  }
  if (
    q.statusCode !== undefined &&
    (!Number.isInteger(q.statusCode) || q.statusCode < 0 || q.statusCode > 999)
  ) {
    throw invalid('invalid_status_code');
  }
  const tenant = await resolveTenant(db, tenantRef);
  const where = new Where();
  where.add((p) => `d.tenant_id = ${p}`, tenant.id);
  const eventId = checkId(q.eventId);
  if (eventId !== undefined) where.add((p) => `d.event_id = ${p}`, eventId);
  if (q.state) where.add((p) => `d.state = ${p}`, q.state);
  const endpointId = checkId(q.endpointId);
  if (endpointId !== undefined) where.add((p) => `d.endpoint_id = ${p}`, endpointId);
  const sourceId = checkId(q.sourceId);
  if (sourceId !== undefined) where.add((p) => `e.source_id = ${p}`, sourceId);
  typeCondition(where, 'e.type', q.eventType ?? '');
  // 0 = no HTTP response was received (stored as null until an attempt is made, 0 after).
  if (q.statusCode !== undefined) where.add((p) => `coalesce(d.last_status_code, 0) = ${p}`, q.statusCode);
  timeRange(where, 'd.created_at', q.since, q.until);
  keyset(where, 'd.created_at', 'd.id', cursor);
  const joinEvents = sourceId !== undefined || (q.eventType ?? '') !== '';
  const columns = DELIVERY_COLUMNS.split(', ')
    .map((c) => `d.${c}`)
    .join(', ');
  return db.withTenant(tenant.id, async (tx) => {
    const { rows } = await tx.query<DeliveryRow & { cursor_t: string }>(
      `select ${columns}, d.created_at::text as cursor_t from core.deliveries d
        ${joinEvents ? 'join core.events e on e.tenant_id = d.tenant_id and e.id = d.event_id' : ''}
        where ${where.sql}
        order by d.created_at desc, d.id desc limit ${limit + 1}`,
      where.params,
    );
    const page = rows.slice(0, limit);
    const last = page.at(-1);
    return {
      items: page.map(toDelivery),
      nextCursor:
        rows.length > limit && last !== undefined ? encodeCursor({ t: last.cursor_t, id: last.id }) : '',
    };
  });
}
