import { type Timestamp, timestampDate } from '@bufbuild/protobuf/wkt';
import {
  type Delivery,
  DeliveryState,
  type Endpoint,
  type Event,
  type Source,
  type Tenant,
} from '@zenmesh/proto';

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
  generic: { header: string; algorithm: string; encoding: string; prefix: string } | null;
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
        },
  createdAt: iso(s.createdAt),
});

export interface EndpointJson {
  id: string;
  tenantId: string;
  url: string;
  eventTypes: string[];
  enabled: boolean;
  createdAt: string | null;
}

export const endpointJson = (e: Endpoint): EndpointJson => ({
  id: e.id,
  tenantId: e.tenantId,
  url: e.url,
  eventTypes: [...e.eventTypes],
  enabled: e.enabled,
  createdAt: iso(e.createdAt),
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
});
