import { type Timestamp, timestampDate } from '@bufbuild/protobuf/wkt';
import {
  type Attempt,
  type AuditChainStatus,
  type AuditEntry,
  type Delivery,
  DeliveryState,
  type Endpoint,
  type Event,
  type ReplayEndpointResponse,
  type ReplayEventResponse,
  type Source,
  type Tenant,
} from '@zenmesh/proto';
import { traceIdOf } from '@zenmesh/telemetry';

// Explicit mappers rather than protobuf JSON: the REST API promises camelCase fields that are always present
// (no default-value omission), ISO timestamps, `dataBase64` for bytes and lower-case state names.

const iso = (ts: Timestamp | undefined): string | null =>
  ts === undefined ? null : timestampDate(ts).toISOString();

export interface TenantJson {
  id: string;
  name: string;
  createdAt: string | null;
}

export const tenantJson = (t: Tenant): TenantJson => ({
  id: t.id,
  name: t.name,
  createdAt: iso(t.createdAt),
});

export interface SourceJson {
  id: string;
  tenantId: string;
  provider: string;
  name: string;
  generic: {
    header: string;
    algorithm: string;
    encoding: string;
    prefix: string;
    timestampHeader: string;
    eventTypeHeader: string;
    deliveryIdHeader: string;
  } | null;
  /** Signed-timestamp tolerance, seconds; 0 = the default (300). */
  toleranceSeconds: number;
  /** During a secret rotation: until when the previous secret is still accepted. */
  previousSecretExpiresAt: string | null;
  /** "all" (every enabled, matching endpoint) or "connections" (only connected endpoints). */
  routing: string;
  createdAt: string | null;
}

export const sourceJson = (s: Source): SourceJson => ({
  id: s.id,
  tenantId: s.tenantId,
  provider: s.provider,
  name: s.name,
  generic:
    s.generic === undefined
      ? null
      : {
          header: s.generic.header,
          algorithm: s.generic.algorithm,
          encoding: s.generic.encoding,
          prefix: s.generic.prefix ?? 'sha256=',
          // Unset on the wire is backend.proto's default, a signed timestamp in x-timestamp.
          timestampHeader: s.generic.timestampHeader ?? 'x-timestamp',
          eventTypeHeader: s.generic.eventTypeHeader,
          deliveryIdHeader: s.generic.deliveryIdHeader,
        },
  toleranceSeconds: s.toleranceSeconds,
  previousSecretExpiresAt: iso(s.previousSecretExpiresAt),
  routing: s.routing,
  createdAt: iso(s.createdAt),
});

export interface EndpointJson {
  id: string;
  tenantId: string;
  url: string;
  eventTypes: string[];
  enabled: boolean;
  createdAt: string | null;
  maxConcurrency: number;
  cloudeventsMode: string;
  /** "operator", "gone" or "failing"; null when enabled. */
  disabledReason: string | null;
  disabledAt: string | null;
  consecutiveFailures: number;
  hasClientCert: boolean;
  previousSecretExpiresAt: string | null;
  /** Outbound throttle; null = none. */
  rateLimit: { perSecond: number; burst: number } | null;
  /** FIFO per key; null = no ordering. */
  ordering: { key: string } | null;
}

export const endpointJson = (e: Endpoint): EndpointJson => ({
  id: e.id,
  tenantId: e.tenantId,
  url: e.url,
  eventTypes: [...e.eventTypes],
  enabled: e.enabled,
  createdAt: iso(e.createdAt),
  maxConcurrency: e.maxConcurrency,
  cloudeventsMode: e.cloudeventsMode,
  disabledReason: e.disabledReason === '' ? null : e.disabledReason,
  disabledAt: iso(e.disabledAt),
  consecutiveFailures: e.consecutiveFailures,
  hasClientCert: e.hasClientCert,
  previousSecretExpiresAt: iso(e.previousSecretExpiresAt),
  rateLimit: e.ratePerSecond > 0 ? { perSecond: e.ratePerSecond, burst: e.rateBurst } : null,
  ordering: e.orderingKey === '' ? null : { key: e.orderingKey },
});

export interface EventJson {
  id: string;
  tenantId: string;
  sourceId: string;
  source: string;
  type: string;
  time: string | null;
  datacontenttype: string;
  dataBase64: string;
  providerDeliveryId: string;
  receivedAt: string | null;
  /** The event's trace (W3C trace id, 32 hex), '' when tracing was off when it was recorded. */
  traceId: string;
  /** The webhook's request headers as stored (credentials never are). */
  headers: Record<string, string>;
}

export const eventJson = (e: Event): EventJson => ({
  id: e.id,
  tenantId: e.tenantId,
  sourceId: e.sourceId,
  source: e.source,
  type: e.type,
  time: iso(e.time),
  datacontenttype: e.datacontenttype,
  dataBase64: Buffer.from(e.data).toString('base64'),
  providerDeliveryId: e.providerDeliveryId,
  receivedAt: iso(e.receivedAt),
  traceId: traceIdOf(e.traceparent),
  headers: { ...e.headers },
});

const STATE_NAMES: Record<DeliveryState, string> = {
  [DeliveryState.UNSPECIFIED]: 'unspecified',
  [DeliveryState.PENDING]: 'pending',
  [DeliveryState.SUCCEEDED]: 'succeeded',
  [DeliveryState.RETRYING]: 'retrying',
  [DeliveryState.DEAD]: 'dead',
};

export interface DeliveryJson {
  id: string;
  tenantId: string;
  eventId: string;
  endpointId: string;
  state: string;
  attempts: number;
  nextAttemptAt: string | null;
  lastStatusCode: number;
  lastError: string;
  updatedAt: string | null;
  replays: number;
  deadAt: string | null;
  /** The connection that routed it; '' when its source routes to every endpoint. */
  connectionId: string;
}

export const deliveryJson = (d: Delivery): DeliveryJson => ({
  id: d.id,
  tenantId: d.tenantId,
  eventId: d.eventId,
  endpointId: d.endpointId,
  state: STATE_NAMES[d.state] ?? 'unspecified',
  attempts: d.attempts,
  nextAttemptAt: iso(d.nextAttemptAt),
  lastStatusCode: d.lastStatusCode,
  lastError: d.lastError,
  updatedAt: iso(d.updatedAt),
  replays: d.replays,
  deadAt: iso(d.deadAt),
  connectionId: d.connectionId,
});

export interface AttemptJson {
  id: string;
  deliveryId: string;
  attempt: number;
  /** 0 when no HTTP response was received. */
  statusCode: number;
  error: string;
  durationMs: number;
  createdAt: string | null;
}

export const attemptJson = (a: Attempt): AttemptJson => ({
  id: a.id,
  deliveryId: a.deliveryId,
  attempt: a.attempt,
  statusCode: a.statusCode,
  error: a.error,
  durationMs: a.durationMs,
  createdAt: iso(a.createdAt),
});

export interface ReplayJson {
  deliveryIds: string[];
  skippedInFlight: string[];
  /** Left dead: their connection was deleted, filters them out now, or still fails (docs/routing.md). */
  skippedRouting: string[];
}

export const replayJson = (r: ReplayEndpointResponse | ReplayEventResponse): ReplayJson => ({
  deliveryIds: [...r.deliveryIds],
  skippedInFlight: [...r.skippedInFlight],
  skippedRouting: [...r.skippedRouting],
});

const parseJson = (text: string): unknown => {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return null;
  }
};

export interface AuditEntryJson {
  id: string;
  tenantId: string;
  seq: number;
  at: string | null;
  actor: string;
  via: string;
  action: string;
  target: string;
  before: unknown;
  after: unknown;
  ip: string;
  userAgent: string;
  prevHash: string;
  hash: string;
}

export const auditEntryJson = (a: AuditEntry): AuditEntryJson => ({
  id: a.id,
  tenantId: a.tenantId,
  seq: Number(a.seq),
  at: iso(a.at),
  actor: a.actor,
  via: a.via,
  action: a.action,
  target: a.target,
  before: parseJson(a.beforeJson),
  after: parseJson(a.afterJson),
  ip: a.ip,
  userAgent: a.userAgent,
  prevHash: a.prevHash,
  hash: a.hash,
});

/** One chain of GET /api/v1/audit/verify (the shape `zenmesh audit verify` prints). */
export interface AuditChainJson {
  tenantId: string;
  tenantName: string;
  rows: number;
  ok: boolean;
  broken: { seq: number; id: string; reason: string } | null;
  /** The last row a retention purge removed (the chain verifies from there); absent when none was. */
  checkpointSeq?: number;
}

export const auditChainJson = (c: AuditChainStatus): AuditChainJson => ({
  tenantId: c.tenantId,
  tenantName: c.tenantName,
  rows: Number(c.rows),
  ok: c.ok,
  broken: c.ok ? null : { seq: Number(c.brokenSeq), id: c.brokenId, reason: c.reason },
  ...(c.checkpointSeq === 0n ? {} : { checkpointSeq: Number(c.checkpointSeq) }),
});
