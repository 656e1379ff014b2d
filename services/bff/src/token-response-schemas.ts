import { z } from 'zod';

// The answers of the token-admin (admin-routes.ts) and account (account-routes.ts) routes as zod schemas, for
// the OpenAPI document (openapi.ts) and test/openapi-token-routes.test.ts, which checks real answers of a real
// token service against it. They mirror apiKeyJson, signingKeyJson, userJson and oauthClientJson field for field.

const time = z.string().nullable();

export const apiKeySchema = z.strictObject({
  id: z.string(),
  tenantId: z.string().nullable(),
  name: z.string(),
  scopes: z.array(z.string()),
  createdAt: time,
  expiresAt: time,
  revokedAt: time,
});

export const signingKeySchema = z.strictObject({
  kid: z.string(),
  alg: z.string(),
  state: z.string(),
  createdAt: time,
  retiredAt: time,
});

export const userSchema = z.strictObject({
  id: z.string(),
  username: z.string(),
  mfaEnabled: z.boolean(),
  mfaPending: z.boolean(),
  memberships: z.array(z.strictObject({ tenantId: z.string().nullable(), role: z.string() })),
});

export const oauthClientSchema = z.strictObject({
  id: z.string(),
  name: z.string(),
  tokenEndpointAuthMethod: z.string(),
  redirectUris: z.array(z.string()),
  grantTypes: z.array(z.string()),
  scopes: z.array(z.string()),
  tenantId: z.string().nullable(),
  resourceAudiences: z.array(z.string()),
});

export const tokenAnswers = {
  createdApiKey: z.strictObject({ apiKey: z.string(), key: apiKeySchema }),
  apiKeys: z.strictObject({ keys: z.array(apiKeySchema) }),
  apiKey: z.strictObject({ key: apiKeySchema }),
  signingKeys: z.strictObject({ keys: z.array(signingKeySchema) }),
  createdUser: z.strictObject({ userId: z.string(), user: userSchema }),
  users: z.strictObject({ users: z.array(userSchema) }),
  totpEnrollment: z.strictObject({ otpauthUri: z.string(), recoveryCodes: z.array(z.string()) }),
  user: z.strictObject({ user: userSchema }),
  totpReset: z.strictObject({ enrollmentUrl: z.string(), expiresAt: z.string(), user: userSchema }),
  createdClient: z.strictObject({
    clientId: z.string(),
    clientSecret: z.string().nullable(),
    client: oauthClientSchema,
  }),
  clients: z.strictObject({ clients: z.array(oauthClientSchema) }),
} as const;
