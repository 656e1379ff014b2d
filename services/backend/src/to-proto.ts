import type { MessageInitShape } from '@bufbuild/protobuf';
import { timestampFromDate } from '@bufbuild/protobuf/wkt';
import {
  type AttemptSchema,
  type AuditChainStatusSchema,
  type AuditEntrySchema,
  type ConnectionSchema,
  type DeliverySchema,
  DeliveryState,
  type EndpointSchema,
  type EventSchema,
  type LeasedDeliverySchema,
  type SourceSchema,
  type TenantSchema,
} from '@zenmesh/proto';
import type { AuditEntryRecord } from './audit.js';
import type { AuditChainStatus } from './audit-verify.js';
import type { ConnectionRecord } from './connections.js';
import type { AttemptRecord } from './deliveries.js';
import type { LeasedDeliveryRecord } from './delivery-lease.js';
import type { DeliveryStateName } from './delivery-state.js';
import type { DeliveryRecord, EndpointRecord, EventRecord, SourceRecord, TenantRecord } from './records.js';

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
  ...(s.generic === null ? {} : { generic: { ...s.generic } }),
  createdAt: timestampFromDate(s.createdAt),
  toleranceSeconds: s.toleranceSeconds,
  routing: s.routing,
  ...(s.previousSecretExpiresAt === null
    ? {}
    : { previousSecretExpiresAt: timestampFromDate(s.previousSecretExpiresAt) }),
});

export const endpointToProto = (e: EndpointRecord): MessageInitShape<typeof EndpointSchema> => ({
  id: e.id,
  tenantId: e.tenantId,
  url: e.url,
  eventTypes: e.eventTypes,
  enabled: e.enabled,
  createdAt: timestampFromDate(e.createdAt),
  maxConcurrency: e.maxConcurrency,
  cloudeventsMode: e.cloudeventsMode,
  disabledReason: e.disabledReason ?? '',
  ...(e.disabledAt === null ? {} : { disabledAt: timestampFromDate(e.disabledAt) }),
  consecutiveFailures: e.consecutiveFailures,
  hasClientCert: e.hasClientCert,
  ...(e.previousSecretExpiresAt === null
    ? {}
    : { previousSecretExpiresAt: timestampFromDate(e.previousSecretExpiresAt) }),
  ratePerSecond: e.rateLimit?.perSecond ?? 0,
  rateBurst: e.rateLimit?.burst ?? 0,
  orderingKey: e.orderingKey ?? '',
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
  traceparent: e.traceparent ?? '',
  headers: { ...e.headers },
});

export const connectionToProto = (c: ConnectionRecord): MessageInitShape<typeof ConnectionSchema> => ({
  id: c.id,
  tenantId: c.tenantId,
  sourceId: c.sourceId,
  endpointId: c.endpointId,
  filter: c.filter,
  transform: c.transform,
  enabled: c.enabled,
  createdAt: timestampFromDate(c.createdAt),
  updatedAt: timestampFromDate(c.updatedAt),
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
  replays: d.replays,
  ...(d.deadAt === null ? {} : { deadAt: timestampFromDate(d.deadAt) }),
  connectionId: d.connectionId ?? '',
});

export const leasedToProto = (l: LeasedDeliveryRecord): MessageInitShape<typeof LeasedDeliverySchema> => ({
  delivery: deliveryToProto(l.delivery),
  event: eventToProto(l.event),
  endpointUrl: l.endpointUrl,
  signingSecrets: l.signingSecrets,
  leaseToken: l.leaseToken,
  cloudeventsMode: l.cloudeventsMode,
  clientCertPem: l.clientCertPem,
  clientKeyPem: l.clientKeyPem,
  headers: l.headers,
  ratePerSecond: l.rateLimit?.perSecond ?? 0,
  rateBurst: l.rateLimit?.burst ?? 0,
});

export const attemptToProto = (a: AttemptRecord): MessageInitShape<typeof AttemptSchema> => ({
  id: a.id,
  deliveryId: a.deliveryId,
  attempt: a.attempt,
  statusCode: a.statusCode,
  error: a.error,
  durationMs: a.durationMs,
  createdAt: timestampFromDate(a.createdAt),
});

export const auditToProto = (a: AuditEntryRecord): MessageInitShape<typeof AuditEntrySchema> => ({
  id: a.id,
  tenantId: a.tenantId,
  seq: BigInt(a.seq),
  at: timestampFromDate(a.at),
  actor: a.actor,
  via: a.via,
  action: a.action,
  target: a.target,
  beforeJson: JSON.stringify(a.before ?? null),
  afterJson: JSON.stringify(a.after ?? null),
  ip: a.ip,
  userAgent: a.userAgent,
  prevHash: a.prevHash,
  hash: a.hash,
});

export const chainToProto = (c: AuditChainStatus): MessageInitShape<typeof AuditChainStatusSchema> => ({
  tenantId: c.tenantId,
  tenantName: c.tenantName,
  rows: BigInt(c.rows),
  ok: c.ok,
  checkpointSeq: BigInt(c.checkpointSeq ?? 0),
  ...(c.broken === undefined
    ? {}
    : { brokenSeq: BigInt(c.broken.seq), brokenId: c.broken.id, reason: c.broken.reason }),
});
