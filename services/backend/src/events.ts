import { invalid } from './errors.js';
import type { EventRecord } from './records.js';
import { validateEventHeaders, validateEventType } from './validate.js';

export interface RecordEventInput {
  sourceId: string;
  type: string;
  time?: Date | undefined;
  datacontenttype?: string | undefined;
  data: Uint8Array;
  /** The provider's own delivery id; empty or absent when it sends none. */
  providerDeliveryId?: string | undefined;
  /** W3C traceparent of the recording span (trace-context.ts), when tracing is on. */
  traceparent?: string | undefined;
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
  traceparent: string | null;
  headers: Record<string, string>;
}

export const EVENT_COLUMNS =
  'id, tenant_id, source_id, source, type, time, datacontenttype, data, provider_delivery_id, received_at, traceparent, headers';

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
  traceparent: r.traceparent,
  headers: r.headers,
});

/** Upper bound on a stored payload; the ingester enforces its own (smaller) body limit first. */
export const MAX_EVENT_BYTES = 4 * 1024 * 1024;

/** CloudEvents `source` attribute (a URI reference, CloudEvents 1.0 §3.1.1) naming the mesh source. */
export const cloudEventSource = (sourceId: string): string => `/sources/${sourceId}`;

/** Checks one event's fields; answers what to store of them (provider delivery id null when it sent none). */
export function validateEventInput(input: RecordEventInput): {
  providerDeliveryId: string | null;
  headers: Record<string, string>;
} {
  validateEventType(input.type);
  if (input.data.byteLength > MAX_EVENT_BYTES) throw invalid('event_too_large');
  const headers = validateEventHeaders(input.headers ?? {});
  const providerDeliveryId =
    input.providerDeliveryId === undefined || input.providerDeliveryId === ''
      ? null
      : input.providerDeliveryId;
  if (providerDeliveryId !== null && providerDeliveryId.length > 200)
    throw invalid('invalid_provider_delivery_id');
  return { providerDeliveryId, headers };
}
