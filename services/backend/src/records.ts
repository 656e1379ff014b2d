import type { GenericHmacConfig } from '@zenmesh/providers';
import type { DeliveryStateName } from './delivery-state.js';
/** Plain shapes the store layer returns; handlers turn them into proto messages (to-proto.ts). */
export interface TenantRecord {
  id: string;
  name: string;
  createdAt: Date;
}

export interface SourceRecord {
  id: string;
  tenantId: string;
  provider: string;
  name: string;
  /** Generic sources only; null for the provider schemes. */
  generic: GenericHmacConfig | null;
  /** Tolerance of a signed timestamp, seconds (0 = the ingester's default, 300). */
  toleranceSeconds: number;
  /** During a rotation: until when the previous secret is still accepted. */
  previousSecretExpiresAt: Date | null;
  createdAt: Date;
  /** 'all': every enabled, matching endpoint; 'connections': only connected ones (routing.ts). */
  routing: 'all' | 'connections';
}

export type CloudEventsMode = 'binary' | 'structured';
export type DisabledReason = 'operator' | 'gone' | 'failing';

export interface EndpointRecord {
  id: string;
  tenantId: string;
  url: string;
  eventTypes: string[];
  enabled: boolean;
  createdAt: Date;
  maxConcurrency: number;
  cloudeventsMode: CloudEventsMode;
  disabledReason: DisabledReason | null;
  disabledAt: Date | null;
  consecutiveFailures: number;
  failingSince: Date | null;
  hasClientCert: boolean;
  previousSecretExpiresAt: Date | null;
  /** Outbound throttle (endpoint-controls.ts); null = none. */
  rateLimit: { perSecond: number; burst: number } | null;
  /** FIFO key (ordering-key.ts); null = no ordering. */
  orderingKey: string | null;
}

export interface EventRecord {
  id: string;
  tenantId: string;
  sourceId: string;
  source: string;
  type: string;
  time: Date;
  datacontenttype: string;
  data: Uint8Array;
  providerDeliveryId: string | null;
  receivedAt: Date;
  traceparent: string | null;
  /** The webhook's request headers as stored (credentials never are). */
  headers: Record<string, string>;
}

export interface DeliveryRecord {
  id: string;
  tenantId: string;
  eventId: string;
  endpointId: string;
  state: DeliveryStateName;
  attempts: number;
  nextAttemptAt: Date | null;
  lastStatusCode: number | null;
  lastError: string | null;
  updatedAt: Date;
  replays: number;
  deadAt: Date | null;
  /** The connection that routed it; null when the source routes to every endpoint. */
  connectionId: string | null;
}

export interface DeliveryRow {
  id: string;
  tenant_id: string;
  event_id: string;
  endpoint_id: string;
  state: DeliveryStateName;
  attempts: number;
  next_attempt_at: Date | null;
  last_status_code: number | null;
  last_error: string | null;
  updated_at: Date;
  lease_token: string | null;
  lease_owner: string | null;
  lease_expires_at: Date | null;
  attempts_at_replay: number;
  replays: number;
  dead_at: Date | null;
  connection_id: string | null;
}

export const toDelivery = (r: DeliveryRow): DeliveryRecord => ({
  id: r.id,
  tenantId: r.tenant_id,
  eventId: r.event_id,
  endpointId: r.endpoint_id,
  state: r.state,
  attempts: r.attempts,
  nextAttemptAt: r.next_attempt_at,
  lastStatusCode: r.last_status_code,
  lastError: r.last_error,
  updatedAt: r.updated_at,
  replays: r.replays,
  deadAt: r.dead_at,
  connectionId: r.connection_id,
});

/** Clamps an optional page size (0 = default) into [1, max]. */
export const pageSize = (limit: number | undefined, fallback: number, max: number): number =>
  limit === undefined || limit <= 0 ? fallback : Math.min(Math.floor(limit), max);
