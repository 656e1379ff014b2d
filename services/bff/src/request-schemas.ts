import { z } from 'zod';

// Shape checks only; the backend owns the domain rules (name syntax, URL policy, provider list) and its
// INVALID_ARGUMENT answers come back as 400 too. Unknown fields are refused so a typo is not silently ignored.

export const createTenantBody = z.strictObject({
  name: z.string().min(1).max(63),
});

const headerName = z.string().max(100);
const secret = z.string().min(1).max(4096);
/** How long a previous secret stays valid after a rotation: 1 s to 7 days (absent: 24 h). */
const previousValidSeconds = z.int().min(1).max(604_800).optional();

/**
 * How far a provider's signed timestamp may be from now, seconds: at most an hour (the backend's cap), since a
 * captured webhook can be replayed for as long as its timestamp is accepted.
 */
const toleranceSeconds = z.int().min(1).max(3600).optional();

export const createSourceBody = z.strictObject({
  // The backend owns the provider list (generic, github, stripe, slack, shopify, gitlab, standard-webhooks, svix).
  provider: z.string().min(1).max(64),
  name: z.string().max(200).optional(),
  secret,
  /** Generic sources only (the backend refuses it for the others). */
  generic: z
    .strictObject({
      header: headerName.optional(),
      algorithm: z.enum(['sha256', 'sha512']).optional(),
      encoding: z.enum(['hex', 'base64']).optional(),
      prefix: z.string().max(64).optional(),
      timestampHeader: headerName.optional(),
      eventTypeHeader: headerName.optional(),
      deliveryIdHeader: headerName.optional(),
    })
    .optional(),
  toleranceSeconds,
});

/** toleranceSeconds 0 puts a source back on the default (300 s); routing: see docs/routing.md. */
export const updateSourceBody = z
  .strictObject({
    toleranceSeconds: z.int().min(0).max(3600).optional(),
    routing: z.enum(['all', 'connections']).optional(),
  })
  .refine((b) => b.toleranceSeconds !== undefined || b.routing !== undefined, {
    message: 'nothing to change: give toleranceSeconds or routing',
    path: ['toleranceSeconds'],
  });

export const rotateSourceSecretBody = z.strictObject({ secret, previousValidSeconds });

const maxConcurrency = z.int().min(1).max(1000).optional();
const cloudeventsMode = z.enum(['binary', 'structured']).optional();
const pem = z
  .string()
  .min(1)
  .max(16 * 1024)
  .optional();
const eventTypes = z.array(z.string().min(1).max(200)).max(100).optional();
const url = z.url({ protocol: /^https?$/ }).max(2048);
/** Outbound throttle (docs/routing.md): requests per second and the burst sent at once; null removes it. */
const rateLimit = z
  .strictObject({
    perSecond: z.number().min(0.01).max(10_000),
    burst: z.int().min(1).max(10_000).optional(),
  })
  .nullable()
  .optional();
/** FIFO per key: "$.customer.id" (JSON path into the body) or "header:x-customer"; null removes it. */
const ordering = z
  .strictObject({ key: z.string().min(1).max(256) })
  .nullable()
  .optional();

export const createEndpointBody = z.strictObject({
  url,
  eventTypes,
  maxConcurrency,
  cloudeventsMode,
  clientCertPem: pem,
  clientKeyPem: pem,
  rateLimit,
  ordering,
});

/** Only the fields present change; `eventTypes: []` means every type again. */
export const updateEndpointBody = z.strictObject({
  url: url.optional(),
  eventTypes,
  enabled: z.boolean().optional(),
  maxConcurrency,
  cloudeventsMode,
  clientCertPem: pem,
  clientKeyPem: pem,
  clearClientCert: z.boolean().optional(),
  rateLimit,
  ordering,
});

/** CEL source text; the backend compiles it and names the position of an error. */
const expression = z.string().max(2048);
const resourceId = z.string().min(1).max(64);

export const createConnectionBody = z.strictObject({
  sourceId: resourceId,
  endpointId: resourceId,
  filter: expression.optional(),
  transform: expression.optional(),
});

/** Only the fields present change; `""` removes a filter or transformation. */
export const updateConnectionBody = z
  .strictObject({
    filter: expression.optional(),
    transform: expression.optional(),
    enabled: z.boolean().optional(),
  })
  .refine((b) => Object.keys(b).length > 0, 'nothing to change');

export const connectionQuery = z.object({
  sourceId: resourceId.optional(),
  endpointId: resourceId.optional(),
});

export const rotateEndpointSecretBody = z.strictObject({ previousValidSeconds });

export const replayEndpointBody = z.strictObject({ since: z.iso.datetime({ offset: true }) });

export const emptyBody = z.strictObject({});

/** `?limit=` — a positive integer up to 1000; absent means the backend's default. */
export const limitParam = z
  .string()
  .regex(/^[0-9]{1,4}$/, 'must be an integer from 1 to 1000')
  .transform(Number)
  .refine((n) => n >= 1 && n <= 1000, 'must be an integer from 1 to 1000')
  .optional();

export const eventIdParam = z.string().min(1).max(64).optional();

const instant = z.iso.datetime({ offset: true }).optional();
const idParam = z.string().min(1).max(64).optional();
/** `order.created`, or every type under a prefix: `order.*`. */
const typeParam = z
  .string()
  .min(1)
  .max(200)
  .regex(/^[^\s*]+(?:\.\*)?$/, 'an event type, or a prefix ending in .*')
  .optional();
/** The opaque `nextCursor` of a previous page. */
const cursorParam = z.string().min(1).max(200).optional();

export const eventSearchQuery = z.strictObject({
  limit: limitParam,
  sourceId: idParam,
  type: typeParam,
  since: instant,
  until: instant,
  cursor: cursorParam,
});

export const deliverySearchQuery = z.strictObject({
  limit: limitParam,
  eventId: eventIdParam,
  state: z.enum(['pending', 'retrying', 'succeeded', 'dead']).optional(),
  endpointId: idParam,
  sourceId: idParam,
  eventType: typeParam,
  since: instant,
  until: instant,
  /** The last attempt's HTTP status; 0 = no response received. */
  statusCode: z
    .string()
    .regex(/^[0-9]{1,3}$/, 'must be an HTTP status code (0 = no response)')
    .transform(Number)
    .optional(),
  cursor: cursorParam,
});

/** Query of the audit list: `?limit=` as above, `?afterSeq=` a non-negative integer. */
export const auditQuery = z.object({
  limit: limitParam,
  afterSeq: z
    .string()
    .regex(/^[0-9]{1,18}$/, 'must be a non-negative integer')
    .transform((v) => BigInt(v))
    .optional(),
});

/** `?tenant=` of /api/v1/audit/verify: absent verifies every tenant (cluster-wide callers only). */
export const verifyQuery = z.object({ tenant: z.string().min(1).max(64).optional() });

/** One line naming the first problem, e.g. `url: Invalid URL`. */
export function describeIssue(error: z.ZodError): string {
  const issue = error.issues[0];
  if (issue === undefined) return 'invalid request';
  const path = issue.path.map(String).join('.');
  return path === '' ? issue.message : `${path}: ${issue.message}`;
}
