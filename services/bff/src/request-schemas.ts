import { z } from 'zod';

// Shape checks only; the backend owns the domain rules (name syntax, URL policy, provider list) and its
// INVALID_ARGUMENT answers come back as 400 too. Unknown fields are refused so a typo is not silently ignored.

export const createTenantBody = z.strictObject({
  name: z.string().min(1).max(63),
});

export const createSourceBody = z.strictObject({
  provider: z.string().min(1).max(64),
  name: z.string().max(200).optional(),
  secret: z.string().min(1).max(4096),
  generic: z
    .strictObject({
      header: z.string().max(200).optional(),
      algorithm: z.enum(['sha256', 'sha512']).optional(),
      encoding: z.enum(['hex', 'base64']).optional(),
      prefix: z.string().max(64).optional(),
    })
    .optional(),
});

export const createEndpointBody = z.strictObject({
  url: z.url({ protocol: /^https?$/ }).max(2048),
  eventTypes: z.array(z.string().min(1).max(200)).max(100).optional(),
});

/** `?limit=` — a positive integer up to 1000; absent means the backend's default. */
export const limitParam = z
  .string()
  .regex(/^[0-9]{1,4}$/, 'must be an integer from 1 to 1000')
  .transform(Number)
  .refine((n) => n >= 1 && n <= 1000, 'must be an integer from 1 to 1000')
  .optional();

export const eventIdParam = z.string().min(1).max(64).optional();

/** Query parameters of the list routes (each route reads the ones it supports). */
export const listQuery = z.object({ limit: limitParam, eventId: eventIdParam });

/** One line naming the first problem, e.g. `url: Invalid URL`. */
export function describeIssue(error: z.ZodError): string {
  const issue = error.issues[0];
  if (issue === undefined) return 'invalid request';
  const path = issue.path.map(String).join('.');
  return path === '' ? issue.message : `${path}: ${issue.message}`;
}
