import { type Db, prepared } from '@zenmesh/db';
import { LRUCache } from 'lru-cache';
import { DELIVERY_COLUMNS } from './deliveries.js';
import type { DeliveryTenants } from './delivery-tenants.js';
import { internal, invalid } from './errors.js';
import { EVENT_COLUMNS, type EventRow, toEvent } from './events.js';
import {
  type CloudEventsMode,
  type DeliveryRecord,
  type DeliveryRow,
  type EventRecord,
  toDelivery,
} from './records.js';
import type { SecretBoxes } from './secrets.js';

export interface LeaseOptions {
  /** Most deliveries to claim; default 10, at most 100. */
  max?: number;
  /** Lease length; default 30 s, clamped to [1 s, 10 min]. */
  leaseMs?: number;
  /** Only deliveries of this event. */
  eventId?: string;
  /** Who holds the lease (the caller's SPIFFE ID), kept for diagnosis. */
  owner?: string;
  /** Told each leased delivery's tenant, so its report needs no lookup. */
  tenants?: DeliveryTenants;
  /** Opened endpoint secrets kept briefly (createOpenedSecrets); without it each lease opens them. */
  opened?: OpenedSecrets;
  /** The caller's cap per endpoint (its fair share of its own slots); 0 or absent: none. */
  share?: number;
  /** Per endpoint, how many more the caller takes now (overrides `share`; 0 = none). At most 1000. */
  rooms?: ReadonlyArray<{ endpointId: string; room: number }>;
}

/** Opens sealed endpoint secrets and client keys, or answers from a short-lived cache. */
export interface OpenedSecrets {
  endpointSecret(sealed: string, endpointId: string): string;
  clientKey(sealed: string, endpointId: string): string;
}

const openEach = (boxes: SecretBoxes): OpenedSecrets => ({
  endpointSecret: (sealed, id) => boxes.endpoint.open(sealed, id),
  clientKey: (sealed, id) => boxes.clientKey.open(sealed, id),
});

/**
 * Keyed by the endpoint id AND the sealed text itself, so a rotated secret (a new sealed value) is never
 * answered from the cache; entries live `ttlMs` (default 60 s) and at most `max` are kept in memory.
 */
export function createOpenedSecrets(boxes: SecretBoxes, ttlMs = 60_000, max = 1000): OpenedSecrets {
  const cache = new LRUCache<string, string>({ max, ttl: ttlMs });
  const cached =
    (kind: string, open: (sealed: string, id: string) => string) => (sealed: string, id: string) => {
      const key = `${kind}\0${id}\0${sealed}`;
      let value = cache.get(key);
      if (value === undefined) {
        value = open(sealed, id);
        cache.set(key, value);
      }
      return value;
    };
  const each = openEach(boxes);
  return { endpointSecret: cached('secret', each.endpointSecret), clientKey: cached('key', each.clientKey) };
}

export interface LeasedDeliveryRecord {
  delivery: DeliveryRecord;
  event: EventRecord;
  endpointUrl: string;
  /** Current signing secret first; during a rotation (until it expires) the previous one follows. */
  signingSecrets: string[];
  leaseToken: string;
  leaseExpiresAt: Date;
  cloudeventsMode: CloudEventsMode;
  /** The endpoint's mTLS client identity, when it has one. */
  clientCertPem: string;
  clientKeyPem: string;
  /** Extra request headers from the connection's transformation (routing.ts). */
  headers: Record<string, string>;
  /** The endpoint's outbound throttle, enforced by egress; null = none. */
  rateLimit: { perSecond: number; burst: number } | null;
}

interface EndpointSecretRow {
  ep_id: string;
  url: string;
  secret_sealed: string;
  previous_secret_sealed: string | null;
  previous_valid: boolean;
  cloudevents_mode: CloudEventsMode;
  client_cert_pem: string | null;
  client_key_sealed: string | null;
  rate_per_second: number | null;
  rate_burst: number | null;
}

const LEASE = prepared(
  'zm_lease_deliveries',
  `select ${DELIVERY_COLUMNS}, body as routed_body, headers as routed_headers
     from core.lease_deliveries($1, $2, $3, $4, $5, $6, $7)`,
);

// Each leased (event, endpoint) pair's event and endpoint in one statement: one row per pair, the
// endpoint's columns prefixed so they do not meet the event's.
const LEASED_DETAILS = prepared(
  'zm_leased_details',
  `select ${EVENT_COLUMNS.split(', ')
    .map((c) => `e.${c}`)
    .join(', ')},
          ep.id as ep_id, ep.url, ep.secret_sealed, ep.previous_secret_sealed, ep.cloudevents_mode,
          ep.client_cert_pem, ep.client_key_sealed, ep.rate_per_second, ep.rate_burst,
          coalesce(ep.previous_secret_expires_at > now(), true) as previous_valid
     from (select distinct * from unnest($2::text[], $3::text[]) as p(event_id, endpoint_id)) p
     join core.events e on e.tenant_id = $1 and e.id = p.event_id
     join core.endpoints ep on ep.tenant_id = $1 and ep.id = p.endpoint_id`,
);

const clamp = (v: number, lo: number, hi: number): number => Math.min(Math.max(v, lo), hi);

/** The caller's share and rooms as the SQL takes them; refuses a malformed list (INVALID_ARGUMENT). */
function callerShare(options: LeaseOptions): [number, string[], number[]] {
  const rooms = options.rooms ?? [];
  if (rooms.length > 1000) throw invalid('invalid_rooms: at most 1000 endpoints');
  for (const r of rooms) {
    if (r.endpointId.length === 0 || r.endpointId.length > 64 || !Number.isInteger(r.room) || r.room < 0) {
      throw invalid('invalid_rooms: an endpoint id and a room of 0 or more each');
    }
  }
  const share = options.share === undefined ? 0 : clamp(Math.floor(options.share), 0, 1000);
  return [share, rooms.map((r) => r.endpointId), rooms.map((r) => Math.min(r.room, 1000))];
}

/**
 * Claims due deliveries across tenants (core.lease_deliveries: FOR UPDATE SKIP LOCKED, a fresh random
 * lease token and expiry each), then reads each one's event and endpoint inside its own tenant's scope.
 * A lease that is never reported simply expires and the delivery becomes due again: a crashed egress
 * loses nothing.
 */
export async function leaseDeliveries(
  db: Db,
  boxes: SecretBoxes,
  options: LeaseOptions = {},
): Promise<LeasedDeliveryRecord[]> {
  const max = options.max === undefined || options.max <= 0 ? 10 : clamp(Math.floor(options.max), 1, 100);
  const leaseMs =
    options.leaseMs === undefined || options.leaseMs <= 0
      ? 30_000
      : clamp(Math.floor(options.leaseMs), 1000, 600_000);
  // body/headers: what a connection's transformation made of the event (routing.ts), sent instead of it.
  const { rows: claimed } = await db.query<
    DeliveryRow & { routed_body: Uint8Array | null; routed_headers: Record<string, string> | null }
  >(LEASE, [max, leaseMs, options.eventId || null, options.owner ?? null, ...callerShare(options)]);
  const opened = options.opened ?? openEach(boxes);
  const byTenant = new Map<string, (typeof claimed)[number][]>();
  for (const row of claimed) {
    byTenant.set(row.tenant_id, [...(byTenant.get(row.tenant_id) ?? []), row]);
    options.tenants?.remember(row.id, row.tenant_id);
  }

  const out: LeasedDeliveryRecord[] = [];
  for (const [tenantId, rows] of byTenant) {
    const leased = await db.withTenant(tenantId, async (tx) => {
      const { rows: details } = await tx.query<EventRow & EndpointSecretRow>(LEASED_DETAILS, [
        tenantId,
        rows.map((r) => r.event_id),
        rows.map((r) => r.endpoint_id),
      ]);
      const eventById = new Map(details.map((d) => [d.id, d]));
      const endpointById = new Map(details.map((d) => [d.ep_id, d]));
      return rows.map((row): LeasedDeliveryRecord => {
        const event = eventById.get(row.event_id);
        const endpoint = endpointById.get(row.endpoint_id);
        if (
          event === undefined ||
          endpoint === undefined ||
          row.lease_token === null ||
          row.lease_expires_at === null
        ) {
          throw internal(`leased delivery ${row.id} is missing its event, endpoint or lease`);
        }
        const signingSecrets = [opened.endpointSecret(endpoint.secret_sealed, endpoint.ep_id)];
        if (endpoint.previous_secret_sealed !== null && endpoint.previous_valid) {
          signingSecrets.push(opened.endpointSecret(endpoint.previous_secret_sealed, endpoint.ep_id));
        }
        return {
          delivery: toDelivery(row),
          event:
            row.routed_body === null
              ? toEvent(event)
              : { ...toEvent(event), data: row.routed_body, datacontenttype: 'application/json' },
          endpointUrl: endpoint.url,
          signingSecrets,
          leaseToken: row.lease_token,
          leaseExpiresAt: row.lease_expires_at,
          cloudeventsMode: endpoint.cloudevents_mode,
          clientCertPem: endpoint.client_cert_pem ?? '',
          clientKeyPem:
            endpoint.client_key_sealed === null
              ? ''
              : opened.clientKey(endpoint.client_key_sealed, endpoint.ep_id),
          headers: row.routed_headers ?? {},
          rateLimit:
            endpoint.rate_per_second === null || endpoint.rate_burst === null
              ? null
              : { perSecond: endpoint.rate_per_second, burst: endpoint.rate_burst },
        };
      });
    });
    out.push(...leased);
  }
  return out;
}
