import type { MessageInitShape } from '@bufbuild/protobuf';
import { timestampDate, timestampFromDate } from '@bufbuild/protobuf/wkt';
import type {
  ApiKeyInfo,
  CreateApiKeyRequestSchema,
  CreateApiKeyResponse,
  ListApiKeysRequestSchema,
  ListApiKeysResponse,
  ListSigningKeysRequestSchema,
  ListSigningKeysResponse,
  RevokeApiKeyRequestSchema,
  RevokeApiKeyResponse,
  RotateSigningKeyRequestSchema,
  RotateSigningKeyResponse,
  SigningKeyInfo,
} from '@zenmesh/proto';
import type { CallOptions } from '@zenmesh/rpc';
import { z } from 'zod';
import type { TokenAccountClient } from './account-routes.js';
import { ApiRefusal, invalidArgument, UpstreamAnswerError } from './api-errors.js';
import type { Route } from './api-routes.js';
import { readJsonBody } from './json-body.js';
import { describeIssue } from './request-schemas.js';
import { tokenAnswers } from './token-response-schemas.js';

/** The TokenService admin methods the bff calls: a structural slice of the rpc client. */
export interface TokenAdminClient extends TokenAccountClient {
  createApiKey(
    req: MessageInitShape<typeof CreateApiKeyRequestSchema>,
    o?: CallOptions,
  ): Promise<CreateApiKeyResponse>;
  listApiKeys(
    req: MessageInitShape<typeof ListApiKeysRequestSchema>,
    o?: CallOptions,
  ): Promise<ListApiKeysResponse>;
  revokeApiKey(
    req: MessageInitShape<typeof RevokeApiKeyRequestSchema>,
    o?: CallOptions,
  ): Promise<RevokeApiKeyResponse>;
  rotateSigningKey(
    req: MessageInitShape<typeof RotateSigningKeyRequestSchema>,
    o?: CallOptions,
  ): Promise<RotateSigningKeyResponse>;
  listSigningKeys(
    req: MessageInitShape<typeof ListSigningKeysRequestSchema>,
    o?: CallOptions,
  ): Promise<ListSigningKeysResponse>;
}

const iso = (t: Parameters<typeof timestampDate>[0] | undefined) =>
  t === undefined ? null : timestampDate(t).toISOString();

export const apiKeyJson = (k: ApiKeyInfo) => ({
  id: k.id,
  tenantId: k.tenantId === '' ? null : k.tenantId,
  name: k.name,
  scopes: k.scopes,
  createdAt: iso(k.createdAt),
  expiresAt: iso(k.expiresAt),
  revokedAt: iso(k.revokedAt),
});

const signingKeyJson = (k: SigningKeyInfo) => ({
  kid: k.kid,
  alg: k.alg,
  state: k.state,
  createdAt: iso(k.createdAt),
  retiredAt: iso(k.retiredAt),
});

export const createApiKeyBody = z.strictObject({
  name: z.string().min(1).max(200),
  scopes: z.array(z.string().min(1).max(64)).min(1).max(32),
  tenantId: z
    .string()
    .regex(/^ten_[a-z2-7]{26}$/)
    .optional(),
  expiresAt: z.iso.datetime({ offset: true }).optional(),
});

const listApiKeysQuery = z.strictObject({ tenant: z.string().optional() });

/** /api/v1/api-keys (scope keys:admin) and /api/v1/token/keys (scope admin): both answered by the token service. */
export function createAdminRoutes(tokens: TokenAdminClient): Route[] {
  return [
    {
      method: 'POST',
      pattern: /^\/api\/v1\/api-keys$/,
      doc: {
        summary: 'Create an API key (shown once)',
        body: createApiKeyBody,
        response: tokenAnswers.createdApiKey,
        status: 201,
      },
      scopes: ['keys:admin'],
      async handle({ req, call }) {
        const body = await readJsonBody(req);
        if (!body.ok)
          throw body.reason === 'too_large'
            ? new ApiRefusal(413, 'payload_too_large')
            : new ApiRefusal(400, 'invalid_json');
        const parsed = createApiKeyBody.safeParse(body.value);
        if (!parsed.success) throw invalidArgument(describeIssue(parsed.error));
        const input = parsed.data;
        const res = await tokens.createApiKey(
          {
            name: input.name,
            scopes: input.scopes,
            tenantId: input.tenantId ?? '',
            ...(input.expiresAt === undefined
              ? {}
              : { expiresAt: timestampFromDate(new Date(input.expiresAt)) }),
          },
          call,
        );
        if (res.key === undefined) throw new UpstreamAnswerError('CreateApiKey', 'a key');
        // The key is shown exactly once, here; it is never logged.
        return { status: 201, body: { apiKey: res.apiKey, key: apiKeyJson(res.key) } };
      },
    },
    {
      method: 'GET',
      pattern: /^\/api\/v1\/api-keys$/,
      doc: { summary: 'List API keys', query: listApiKeysQuery, response: tokenAnswers.apiKeys },
      scopes: ['keys:admin'],
      async handle({ query, call }) {
        const tenantId = query.get('tenant') ?? '';
        if (tenantId !== '' && !/^ten_[a-z2-7]{26}$/.test(tenantId))
          throw invalidArgument('tenant: expected a tenant id');
        const res = await tokens.listApiKeys({ tenantId }, call);
        return { status: 200, body: { keys: res.keys.map(apiKeyJson) } };
      },
    },
    {
      method: 'POST',
      pattern: /^\/api\/v1\/api-keys\/(key_[a-z2-7]{26})\/revoke$/,
      doc: {
        path: '/api/v1/api-keys/{keyId}/revoke',
        summary: 'Revoke an API key',
        response: tokenAnswers.apiKey,
      },
      scopes: ['keys:admin'],
      async handle({ params, call }) {
        const res = await tokens.revokeApiKey({ id: params[0] ?? '' }, call);
        if (res.key === undefined) throw new UpstreamAnswerError('RevokeApiKey', 'a key');
        return { status: 200, body: { key: apiKeyJson(res.key) } };
      },
    },
    {
      method: 'POST',
      pattern: /^\/api\/v1\/token\/keys\/rotate$/,
      doc: { summary: 'Rotate the token signing key', response: tokenAnswers.signingKeys },
      scopes: ['admin'],
      async handle({ call }) {
        const res = await tokens.rotateSigningKey({}, call);
        return { status: 200, body: { keys: res.keys.map(signingKeyJson) } };
      },
    },
    {
      method: 'GET',
      pattern: /^\/api\/v1\/token\/keys$/,
      doc: { summary: 'The token signing keys', response: tokenAnswers.signingKeys },
      scopes: ['admin'],
      async handle({ call }) {
        const res = await tokens.listSigningKeys({}, call);
        return { status: 200, body: { keys: res.keys.map(signingKeyJson) } };
      },
    },
  ];
}
