import type { MessageInitShape } from '@bufbuild/protobuf';
import { timestampFromDate } from '@bufbuild/protobuf/wkt';
import {
  type DeliverySchema,
  DeliveryState,
  type EndpointSchema,
  type EventSchema,
  type LeasedDeliverySchema,
  type SourceSchema,
  type TenantSchema,
} from '@zenmesh/proto';
import type { LeasedDeliveryRecord } from './deliveries.js';
import type {
  DeliveryRecord,
  DeliveryStateName,
  EndpointRecord,
  EventRecord,
  SourceRecord,
  TenantRecord,
} from './records.js';

export const tenantToProto = (t: TenantRecord): MessageInitShape<typeof TenantSchema> => ({
  id: t.id,
  name: t.name,
  createdAt: timestampFromDate(t.createdAt),
});

export const sourceToProto = (s: SourceRecord): MessageInitShape<typeof SourceSchema> => ({
  id: s.id,
  tenantId: s.tenantId,
  provider: s.provider,
  name: s.name,
  generic: { ...s.generic },
  createdAt: timestampFromDate(s.createdAt),
});

export const endpointToProto = (e: EndpointRecord): MessageInitShape<typeof EndpointSchema> => ({
  id: e.id,
  tenantId: e.tenantId,
  url: e.url,
  eventTypes: e.eventTypes,
  enabled: e.enabled,
  createdAt: timestampFromDate(e.createdAt),
});

export const eventToProto = (e: EventRecord): MessageInitShape<typeof EventSchema> => ({
  id: e.id,
  tenantId: e.tenantId,
  sourceId: e.sourceId,
  source: e.source,
  type: e.type,
  time: timestampFromDate(e.time),
  datacontenttype: e.datacontenttype,
  data: e.data,
  providerDeliveryId: e.providerDeliveryId ?? '',
  receivedAt: timestampFromDate(e.receivedAt),
});

const STATES: Record<DeliveryStateName, DeliveryState> = {
  pending: DeliveryState.PENDING,
  retrying: DeliveryState.RETRYING,
  succeeded: DeliveryState.SUCCEEDED,
  dead: DeliveryState.DEAD,
};

export const deliveryToProto = (d: DeliveryRecord): MessageInitShape<typeof DeliverySchema> => ({
  id: d.id,
  tenantId: d.tenantId,
  eventId: d.eventId,
  endpointId: d.endpointId,
  state: STATES[d.state],
  attempts: d.attempts,
  ...(d.nextAttemptAt === null ? {} : { nextAttemptAt: timestampFromDate(d.nextAttemptAt) }),
  lastStatusCode: d.lastStatusCode ?? 0,
  lastError: d.lastError ?? '',
  updatedAt: timestampFromDate(d.updatedAt),
});

export const leasedToProto = (l: LeasedDeliveryRecord): MessageInitShape<typeof LeasedDeliverySchema> => ({
  delivery: deliveryToProto(l.delivery),
  event: eventToProto(l.event),
  endpointUrl: l.endpointUrl,
  signingSecrets: l.signingSecrets,
  leaseToken: l.leaseToken,
});
