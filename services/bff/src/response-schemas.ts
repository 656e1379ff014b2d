import { z } from 'zod';

// The answers' shapes as zod schemas, for the OpenAPI document (openapi.ts) and the test that checks real
// answers against it. They mirror json-mappers.ts / connection-routes.ts field for field.

const time = z.string().nullable();
const id = z.string();

export const eventSchema = z.strictObject({
  id,
  tenantId: id,
  sourceId: id,
  source: z.string(),
  type: z.string(),
  time,
  datacontenttype: z.string(),
  dataBase64: z.string(),
  providerDeliveryId: z.string(),
  receivedAt: time,
  traceId: z.string(),
  headers: z.record(z.string(), z.string()),
});

export const deliverySchema = z.strictObject({
  id,
  tenantId: id,
  eventId: id,
  endpointId: id,
  state: z.enum(['pending', 'retrying', 'succeeded', 'dead', 'unspecified']),
  attempts: z.int(),
  nextAttemptAt: time,
  lastStatusCode: z.int(),
  lastError: z.string(),
  updatedAt: time,
  replays: z.int(),
  deadAt: time,
  connectionId: z.string(),
});

export const connectionSchema = z.strictObject({
  id,
  tenantId: id,
  sourceId: id,
  endpointId: id,
  filter: z.string(),
  transform: z.string(),
  enabled: z.boolean(),
  createdAt: time,
  updatedAt: time,
});

const nextCursor = z.string().nullable();

export const eventPageSchema = z.strictObject({ events: z.array(eventSchema), nextCursor });
export const deliveryPageSchema = z.strictObject({ deliveries: z.array(deliverySchema), nextCursor });
export const connectionAnswerSchema = z.strictObject({ connection: connectionSchema });
export const connectionListSchema = z.strictObject({ connections: z.array(connectionSchema) });

export const tenantSchema = z.strictObject({ id, name: z.string(), createdAt: time });

const genericConfig = z.strictObject({
  header: z.string(),
  algorithm: z.string(),
  encoding: z.string(),
  prefix: z.string(),
  timestampHeader: z.string(),
  eventTypeHeader: z.string(),
  deliveryIdHeader: z.string(),
});

export const sourceSchema = z.strictObject({
  id,
  tenantId: id,
  provider: z.string(),
  name: z.string(),
  generic: genericConfig.nullable(),
  toleranceSeconds: z.int(),
  previousSecretExpiresAt: time,
  routing: z.string(),
  createdAt: time,
});

export const endpointSchema = z.strictObject({
  id,
  tenantId: id,
  url: z.string(),
  eventTypes: z.array(z.string()),
  enabled: z.boolean(),
  createdAt: time,
  maxConcurrency: z.int(),
  cloudeventsMode: z.string(),
  disabledReason: z.string().nullable(),
  disabledAt: time,
  consecutiveFailures: z.int(),
  hasClientCert: z.boolean(),
  previousSecretExpiresAt: time,
  rateLimit: z.strictObject({ perSecond: z.number(), burst: z.int() }).nullable(),
  ordering: z.strictObject({ key: z.string() }).nullable(),
});

export const attemptSchema = z.strictObject({
  id,
  deliveryId: id,
  attempt: z.int(),
  statusCode: z.int(),
  error: z.string(),
  durationMs: z.int(),
  createdAt: time,
});

export const replaySchema = z.strictObject({
  deliveryIds: z.array(id),
  skippedInFlight: z.array(id),
  skippedRouting: z.array(id),
});

export const auditEntrySchema = z.strictObject({
  id,
  tenantId: id,
  seq: z.int(),
  at: time,
  actor: z.string(),
  via: z.string(),
  action: z.string(),
  target: z.string(),
  before: z.unknown(),
  after: z.unknown(),
  ip: z.string(),
  userAgent: z.string(),
  prevHash: z.string(),
  hash: z.string(),
});

export const auditVerifySchema = z.strictObject({
  ok: z.boolean(),
  chains: z.array(
    z.strictObject({
      tenantId: id,
      tenantName: z.string(),
      rows: z.int(),
      ok: z.boolean(),
      broken: z.strictObject({ seq: z.int(), id: z.string(), reason: z.string() }).nullable(),
      checkpointSeq: z.int().optional(),
    }),
  ),
});

/** Each response body by its key, as the routes answer them. */
export const answers = {
  tenant: z.strictObject({ tenant: tenantSchema }),
  event: z.strictObject({ event: eventSchema }),
  tenants: z.strictObject({ tenants: z.array(tenantSchema) }),
  source: z.strictObject({ source: sourceSchema }),
  createdSource: z.strictObject({ source: sourceSchema, ingestUrl: z.string().optional() }),
  sources: z.strictObject({ sources: z.array(sourceSchema) }),
  endpoint: z.strictObject({ endpoint: endpointSchema }),
  endpointWithSecret: z.strictObject({ endpoint: endpointSchema, signingSecret: z.string() }),
  endpoints: z.strictObject({ endpoints: z.array(endpointSchema) }),
  attempts: z.strictObject({ attempts: z.array(attemptSchema) }),
  delivery: z.strictObject({ delivery: deliverySchema }),
  replay: replaySchema,
  audit: z.strictObject({ entries: z.array(auditEntrySchema) }),
  auditVerify: auditVerifySchema,
} as const;
