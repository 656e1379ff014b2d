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
