import { newId } from '@zenmesh/crypto';
import type { Tx } from '@zenmesh/db';
import { compileExpression, type ExpressionCompiler, type ExpressionInput } from './expression.js';
import { type OrderingKeySpec, orderingKeyOf, parseOrderingKey } from './ordering-key.js';

/**
 * The fan-out decision: which endpoints get a delivery for an event, and what each one is sent. Pure
 * (`routeEvent`) plus the two statements it needs (`loadRoutingTable`, `insertRoutedDeliveries`), so the
 * batching of RecordEvent can call it per event with a table loaded once per source.
 *
 * A source routes in one of two modes (`core.sources.routing`, docs/routing.md):
 * - `all` (every source before migration 0005, and new sources until they get a connection): every
 *   enabled endpoint of the tenant whose event types match, as before connections existed;
 * - `connections`: only the endpoints connected to the source by an enabled connection, each connection
 *   with an optional CEL filter (deliver only when it is true) and transformation (the delivered body
 *   and extra headers). Creating the first connection switches a source to it (audited); deleting
 *   the last one does not switch back (the source then routes nowhere): that is `source update --routing all`.
 * In both modes the endpoint must be enabled and its event types must match (wildcards below).
 */
export type RoutingMode = 'all' | 'connections';
export const ROUTING_MODES: readonly RoutingMode[] = ['all', 'connections'];

export interface RouteEndpoint {
  id: string;
  eventTypes: readonly string[];
  /** The endpoint's ordering key (ordering-key.ts), when its deliveries go out FIFO per key. */
  orderingKey?: string | null | undefined;
}

export interface RouteConnection {
  id: string;
  endpointId: string;
  /** CEL source; '' = every event. */
  filter: string;
  /** CEL source; '' = the event as received. */
  transform: string;
}

export interface RoutingTable {
  mode: RoutingMode;
  /** Enabled endpoints of the tenant. */
  endpoints: readonly RouteEndpoint[];
  /** Enabled connections of the source (mode `connections`). */
  connections: readonly RouteConnection[];
}

export interface RoutedEvent {
  type: string;
  datacontenttype: string;
  data: Uint8Array;
  headers: Readonly<Record<string, string>>;
}

export interface RoutedDelivery {
  endpointId: string;
  connectionId: string | null;
  /** The transformed body (JSON) when a transformation set one; null = the event's own bytes. */
  body: Uint8Array | null;
  /** Extra request headers a transformation set; null = none. */
  headers: Record<string, string> | null;
  /** Set when the filter or transformation failed: the delivery is stored dead with this reason. */
  error: string | null;
  /** Its key when the endpoint orders deliveries (read from the event as received). */
  orderingKey?: string;
}

/**
 * `*` as a segment (between dots) matches exactly one segment, and as the LAST segment one or more:
 * `*` matches every type, `order.*` matches `order.created` and `order.line.added`, `order.*.failed`
 * matches `order.payment.failed`. Anything else matches itself. No patterns = every type.
 */
export function matchesEventType(patterns: readonly string[], type: string): boolean {
  if (patterns.length === 0) return true;
  const segments = type.split('.');
  return patterns.some((pattern) => {
    const parts = pattern.split('.');
    for (let i = 0; i < parts.length; i++) {
      const part = parts[i];
      if (part === '*' && i === parts.length - 1) return segments.length > i;
      if (i >= segments.length) return false;
      if (part !== '*' && part !== segments[i]) return false;
    }
    return segments.length === parts.length;
  });
}

const JSON_TYPE = /^application\/(?:[\w.+-]*\+)?json\s*(?:;|$)/i;

/** The body an expression sees: the parsed JSON when the event is JSON in valid UTF-8, else null. */
export function expressionBody(event: Pick<RoutedEvent, 'datacontenttype' | 'data'>): unknown {
  if (!JSON_TYPE.test(event.datacontenttype)) return null;
  try {
    return JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(event.data));
  } catch {
    return null;
  }
}

export const MAX_TRANSFORMED_BYTES = 1024 * 1024;
const FIELD_NAME = /^[a-z0-9!#$%&'*+.^_`|~-]{1,100}$/;
const FIELD_VALUE = /^[\x20-\x7e]{0,1024}$/;
/** Headers egress sets itself (signature, CloudEvents, framing): a transformation may not set them. */
const RESERVED =
  /^(?:webhook-.*|ce-.*|content-type|content-length|transfer-encoding|host|connection|te|trailer|upgrade|keep-alive|user-agent|traceparent|tracestate)$/;

/** Checks a transformation's result: `{ "body"?: any JSON, "headers"?: map of string to string }`. */
export function transformedRequest(value: unknown): Pick<RoutedDelivery, 'body' | 'headers'> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new TypeError('transformation must produce a map like {"body": …, "headers": {…}}');
  }
  const out = value as Record<string, unknown>;
  const extra = Object.keys(out).filter((k) => k !== 'body' && k !== 'headers');
  if (extra.length > 0) throw new TypeError(`unknown key '${extra[0]}' (only body and headers)`);
  let headers: Record<string, string> | null = null;
  if (out.headers !== undefined) {
    if (out.headers === null || typeof out.headers !== 'object' || Array.isArray(out.headers)) {
      throw new TypeError('headers must be a map of string to string');
    }
    headers = {};
    const entries = Object.entries(out.headers as Record<string, unknown>);
    if (entries.length > 32) throw new TypeError('more than 32 headers');
    for (const [rawName, v] of entries) {
      const name = rawName.toLowerCase();
      if (!FIELD_NAME.test(name)) throw new TypeError(`invalid header name '${rawName.slice(0, 100)}'`);
      if (RESERVED.test(name)) throw new TypeError(`header '${name}' is set by the mesh`);
      if (typeof v !== 'string' || !FIELD_VALUE.test(v)) {
        throw new TypeError(`header '${name}' must be printable ASCII up to 1024 characters`);
      }
      headers[name] = v;
    }
  }
  let body: Uint8Array | null = null;
  if ('body' in out) {
    body = Buffer.from(JSON.stringify(out.body ?? null), 'utf8');
    if (body.byteLength > MAX_TRANSFORMED_BYTES) throw new TypeError('body larger than 1 MiB');
  }
  return { body, headers };
}

/** Evaluates one connection's filter and transformation; compile errors cannot happen for saved ones. */
function routeConnection(
  c: RouteConnection,
  input: () => ExpressionInput,
  compile: ExpressionCompiler,
): RoutedDelivery | undefined {
  const base = { endpointId: c.endpointId, connectionId: c.id, body: null, headers: null, error: null };
  if (c.filter !== '') {
    const r = compile('filter', c.filter).evaluate(input());
    if (!r.ok) return { ...base, error: `filter_failed: ${r.error}` };
    if (r.value !== true) return undefined;
  }
  if (c.transform === '') return base;
  const r = compile('transform', c.transform).evaluate(input());
  if (!r.ok) return { ...base, error: `transform_failed: ${r.error}` };
  try {
    return { ...base, ...transformedRequest(r.value) };
  } catch (err) {
    return { ...base, error: `transform_failed: ${(err as Error).message}` };
  }
}

/** Which endpoints get this event, and what each is sent (see the modes above). */
export function routeEvent(
  table: RoutingTable,
  event: RoutedEvent,
  compile: ExpressionCompiler = compileExpression,
): RoutedDelivery[] {
  const matching = table.endpoints.filter((e) => matchesEventType(e.eventTypes, event.type));
  if (table.mode === 'all') {
    return withOrderingKeys(
      matching,
      event,
      matching.map((e) => ({
        endpointId: e.id,
        connectionId: null,
        body: null,
        headers: null,
        error: null,
      })),
    );
  }
  const eligible = new Set(matching.map((e) => e.id));
  let input: ExpressionInput | undefined;
  const lazyInput = (): ExpressionInput => {
    input ??= { body: expressionBody(event), headers: { ...event.headers }, type: event.type };
    return input;
  };
  const out: RoutedDelivery[] = [];
  for (const c of table.connections) {
    if (!eligible.has(c.endpointId)) continue;
    const routed = routeConnection(c, lazyInput, compile);
    if (routed !== undefined) out.push(routed);
  }
  return withOrderingKeys(matching, event, out);
}

const parsedKeys = new Map<string, OrderingKeySpec>();
const parsedKey = (spec: string): OrderingKeySpec => {
  let parsed = parsedKeys.get(spec);
  if (parsed === undefined) {
    parsed = parseOrderingKey(spec);
    if (parsedKeys.size >= 1000) parsedKeys.clear();
    parsedKeys.set(spec, parsed);
  }
  return parsed;
};

/** Gives each delivery to an ordered endpoint its key; the body is parsed once, and only if one needs it. */
function withOrderingKeys(
  endpoints: readonly RouteEndpoint[],
  event: RoutedEvent,
  routed: RoutedDelivery[],
): RoutedDelivery[] {
  const ordered = new Map(
    endpoints.flatMap((e) => (e.orderingKey ? [[e.id, parsedKey(e.orderingKey)] as const] : [])),
  );
  if (ordered.size === 0) return routed;
  let body: { value: unknown } | undefined;
  return routed.map((r) => {
    const spec = ordered.get(r.endpointId);
    if (spec === undefined || r.error !== null) return r;
    if (spec.kind === 'body') body ??= { value: expressionBody(event) };
    return { ...r, orderingKey: orderingKeyOf(spec, body?.value ?? null, event.headers) };
  });
}

/**
 * The tenant's enabled endpoints that may match `type` (exact, every type, or a wildcard; routeEvent
 * decides the wildcards) and, in mode `connections`, the source's live, enabled connections.
 */
export async function loadRoutingTable(
  tx: Tx,
  source: { id: string; tenantId: string; routing: RoutingMode },
  type: string,
): Promise<RoutingTable> {
  const { rows: endpoints } = await tx.query<{
    id: string;
    event_types: string[];
    ordering_key: string | null;
  }>(
    `select id, event_types, ordering_key from core.endpoints
      where tenant_id = $1 and enabled
        and (cardinality(event_types) = 0 or $2 = any(event_types)
             or exists (select 1 from unnest(event_types) as p where strpos(p, '*') > 0))
      order by id`,
    [source.tenantId, type],
  );
  const mode = source.routing;
  if (mode === 'all') return { mode, endpoints: endpoints.map(toRouteEndpoint), connections: [] };
  const { rows: connections } = await tx.query<{
    id: string;
    endpoint_id: string;
    filter: string;
    transform: string;
  }>(
    `select id, endpoint_id, filter, transform from core.connections
      where tenant_id = $1 and source_id = $2 and enabled and deleted_at is null order by endpoint_id, id`,
    [source.tenantId, source.id],
  );
  return {
    mode,
    endpoints: endpoints.map(toRouteEndpoint),
    connections: connections.map((c) => ({
      id: c.id,
      endpointId: c.endpoint_id,
      filter: c.filter,
      transform: c.transform,
    })),
  };
}

const toRouteEndpoint = (r: {
  id: string;
  event_types: string[];
  ordering_key: string | null;
}): RouteEndpoint => ({
  id: r.id,
  eventTypes: r.event_types,
  orderingKey: r.ordering_key,
});

/**
 * Inserts the routed deliveries of a batch of events in one statement: pending and due now, or dead at once
 * with the reason when its filter or transformation failed. Answers each event's delivery ids.
 */
export async function insertRoutedBatch(
  tx: Tx,
  tenantId: string,
  perEvent: ReadonlyArray<{ eventId: string; routed: readonly RoutedDelivery[] }>,
  options: { onConflictDoNothing?: boolean } = {},
): Promise<Map<string, string[]>> {
  const out = new Map<string, string[]>(perEvent.map((e) => [e.eventId, []]));
  const rows = perEvent.flatMap((e) => e.routed.map((r) => ({ eventId: e.eventId, id: newId('dlv'), ...r })));
  if (rows.length === 0) return out;
  const { rows: inserted } = await tx.query<{ id: string; event_id: string }>(
    `insert into core.deliveries
       (id, tenant_id, event_id, endpoint_id, connection_id, body, headers, state, next_attempt_at, last_error, dead_at,
        ordering_key, ordering_seq)
     select d, $2, v, e, c, decode(b, 'hex'), h::jsonb,
            case when err is null then 'pending' else 'dead' end,
            case when err is null then now() end, err, case when err is null then null else now() end,
            k, case when k is null then null else nextval('core.delivery_order_seq') end
       from unnest($1::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[])
         as t(d, v, e, c, b, h, err, k)
     ${options.onConflictDoNothing ? 'on conflict (event_id, endpoint_id) do nothing' : ''}
     returning id, event_id`,
    [
      rows.map((r) => r.id),
      tenantId,
      rows.map((r) => r.eventId),
      rows.map((r) => r.endpointId),
      rows.map((r) => r.connectionId),
      // Hex text: both drivers (pg, PGlite) pass text arrays the same way.
      rows.map((r) => (r.body === null ? null : Buffer.from(r.body).toString('hex'))),
      rows.map((r) => (r.headers === null ? null : JSON.stringify(r.headers))),
      rows.map((r) => (r.error === null ? null : r.error.slice(0, 500))),
      // An ordered endpoint's key ('' when its path finds nothing); null for unordered endpoints.
      rows.map((r) => r.orderingKey ?? null),
    ],
  );
  // In insertion order (unnest keeps it); ids sort like the single-event path did.
  for (const r of inserted) out.get(r.event_id)?.push(r.id);
  return out;
}

/** The routed deliveries of one event (insertRoutedBatch); `onConflict` skips endpoints that have one (replays). */
export async function insertRoutedDeliveries(
  tx: Tx,
  tenantId: string,
  eventId: string,
  routed: readonly RoutedDelivery[],
  options: { onConflictDoNothing?: boolean } = {},
): Promise<string[]> {
  return (await insertRoutedBatch(tx, tenantId, [{ eventId, routed }], options)).get(eventId) ?? [];
}
