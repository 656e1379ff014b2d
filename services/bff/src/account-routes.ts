import type { IncomingMessage } from 'node:http';
import type { MessageInitShape } from '@bufbuild/protobuf';
import type {
  ConfirmTotpRequestSchema,
  ConfirmTotpResponse,
  CreateClientRequestSchema,
  CreateClientResponse,
  CreateUserRequestSchema,
  CreateUserResponse,
  EnrollTotpRequestSchema,
  EnrollTotpResponse,
  ListClientsRequestSchema,
  ListClientsResponse,
  ListUsersRequestSchema,
  ListUsersResponse,
  OAuthClientInfo,
  UserInfo,
} from '@zenmesh/proto';
import type { CallOptions } from '@zenmesh/rpc';
import { z } from 'zod';
import { ApiRefusal, invalidArgument, UpstreamAnswerError } from './api-errors.js';
import type { Route } from './api-routes.js';
import { readJsonBody } from './json-body.js';
import { describeIssue } from './request-schemas.js';

/** The TokenService user and OAuth-client methods the bff calls: a structural slice of the rpc client. */
export interface TokenAccountClient {
  createUser(
    req: MessageInitShape<typeof CreateUserRequestSchema>,
    o?: CallOptions,
  ): Promise<CreateUserResponse>;
  listUsers(
    req: MessageInitShape<typeof ListUsersRequestSchema>,
    o?: CallOptions,
  ): Promise<ListUsersResponse>;
  enrollTotp(
    req: MessageInitShape<typeof EnrollTotpRequestSchema>,
    o?: CallOptions,
  ): Promise<EnrollTotpResponse>;
  confirmTotp(
    req: MessageInitShape<typeof ConfirmTotpRequestSchema>,
    o?: CallOptions,
  ): Promise<ConfirmTotpResponse>;
  createClient(
    req: MessageInitShape<typeof CreateClientRequestSchema>,
    o?: CallOptions,
  ): Promise<CreateClientResponse>;
  listClients(
    req: MessageInitShape<typeof ListClientsRequestSchema>,
    o?: CallOptions,
  ): Promise<ListClientsResponse>;
}

export const userJson = (u: UserInfo) => ({
  id: u.id,
  username: u.username,
  mfaEnabled: u.mfaEnabled,
  memberships: u.memberships.map((m) => ({ tenantId: m.tenantId === '' ? null : m.tenantId, role: m.role })),
});

export const oauthClientJson = (c: OAuthClientInfo) => ({
  id: c.id,
  name: c.name,
  tokenEndpointAuthMethod: c.tokenEndpointAuthMethod,
  redirectUris: c.redirectUris,
  grantTypes: c.grantTypes,
  scopes: c.scopes,
  tenantId: c.tenantId === '' ? null : c.tenantId,
});

// Shapes only: the token service owns the rules (password length, redirect URIs, roles) and names the refusal.
const createUserBody = z.strictObject({
  username: z.string(),
  password: z.string(),
  role: z.string(),
  tenantId: z.string().optional(),
});
const confirmTotpBody = z.strictObject({ code: z.string() });
const createClientBody = z.strictObject({
  name: z.string(),
  redirectUris: z.array(z.string()).max(32).default([]),
  grantTypes: z.array(z.string()).max(8),
  tokenEndpointAuthMethod: z.string(),
  scopes: z.array(z.string()).max(32),
});

async function parseBody<T>(req: IncomingMessage, schema: z.ZodType<T>): Promise<T> {
  const body = await readJsonBody(req);
  if (!body.ok)
    throw body.reason === 'too_large'
      ? new ApiRefusal(413, 'payload_too_large')
      : new ApiRefusal(400, 'invalid_json');
  const parsed = schema.safeParse(body.value);
  if (!parsed.success) throw invalidArgument(describeIssue(parsed.error));
  return parsed.data;
}

const USER_ID = 'usr_[a-z2-7]{26}';

/**
 * /api/v1/users and /api/v1/oauth-clients (scope keys:admin), answered by the token service. Passwords go in,
 * client secrets, otpauth URIs and recovery codes come out exactly once; none of them is ever logged.
 */
export function createAccountRoutes(tokens: TokenAccountClient): Route[] {
  return [
    {
      method: 'POST',
      pattern: /^\/api\/v1\/users$/,
      scopes: ['keys:admin'],
      async handle({ req, call }) {
        const input = await parseBody(req, createUserBody);
        const res = await tokens.createUser(
          {
            username: input.username,
            password: input.password,
            role: input.role,
            tenantId: input.tenantId ?? '',
          },
          call,
        );
        if (res.user === undefined) throw new UpstreamAnswerError('CreateUser', 'a user');
        return { status: 201, body: { userId: res.userId, user: userJson(res.user) } };
      },
    },
    {
      method: 'GET',
      pattern: /^\/api\/v1\/users$/,
      scopes: ['keys:admin'],
      async handle({ query, call }) {
        const res = await tokens.listUsers({ tenantId: query.get('tenant') ?? '' }, call);
        return { status: 200, body: { users: res.users.map(userJson) } };
      },
    },
    {
      method: 'POST',
      pattern: new RegExp(`^/api/v1/users/(${USER_ID})/totp$`),
      scopes: ['keys:admin'],
      async handle({ params, call }) {
        const res = await tokens.enrollTotp({ userId: params[0] ?? '' }, call);
        return { status: 200, body: { otpauthUri: res.otpauthUri, recoveryCodes: res.recoveryCodes } };
      },
    },
    {
      method: 'POST',
      pattern: new RegExp(`^/api/v1/users/(${USER_ID})/totp/confirm$`),
      scopes: ['keys:admin'],
      async handle({ req, params, call }) {
        const input = await parseBody(req, confirmTotpBody);
        const res = await tokens.confirmTotp({ userId: params[0] ?? '', code: input.code }, call);
        if (res.user === undefined) throw new UpstreamAnswerError('ConfirmTotp', 'a user');
        return { status: 200, body: { user: userJson(res.user) } };
      },
    },
    {
      method: 'POST',
      pattern: /^\/api\/v1\/oauth-clients$/,
      scopes: ['keys:admin'],
      async handle({ req, call }) {
        const input = await parseBody(req, createClientBody);
        const res = await tokens.createClient(input, call);
        if (res.client === undefined) throw new UpstreamAnswerError('CreateClient', 'a client');
        return {
          status: 201,
          body: {
            clientId: res.clientId,
            clientSecret: res.clientSecret === '' ? null : res.clientSecret,
            client: oauthClientJson(res.client),
          },
        };
      },
    },
    {
      method: 'GET',
      pattern: /^\/api\/v1\/oauth-clients$/,
      scopes: ['keys:admin'],
      async handle({ call }) {
        const res = await tokens.listClients({}, call);
        return { status: 200, body: { clients: res.clients.map(oauthClientJson) } };
      },
    },
  ];
}
