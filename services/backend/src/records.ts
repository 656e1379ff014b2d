/** Plain shapes the store layer returns; handlers turn them into proto messages (to-proto.ts). */
export interface TenantRecord {
  id: string;
  name: string;
  createdAt: Date;
}

export interface GenericHmacConfig {
  header: string;
  algorithm: 'sha256' | 'sha512';
  encoding: 'hex' | 'base64';
  prefix: string;
}

export interface SourceRecord {
  id: string;
  tenantId: string;
  provider: string;
  name: string;
  generic: GenericHmacConfig;
  createdAt: Date;
}

export interface EndpointRecord {
  id: string;
  tenantId: string;
  url: string;
  eventTypes: string[];
  enabled: boolean;
  createdAt: Date;
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
}

export type DeliveryStateName = 'pending' | 'retrying' | 'succeeded' | 'dead';

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
});

/** Clamps an optional page size (0 = default) into [1, max]. */
export const pageSize = (limit: number | undefined, fallback: number, max: number): number =>
  limit === undefined || limit <= 0 ? fallback : Math.min(Math.floor(limit), max);
