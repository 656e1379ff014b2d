import type { IncomingMessage } from 'node:http';
import type { MessageInitShape } from '@bufbuild/protobuf';
import { timestampDate } from '@bufbuild/protobuf/wkt';
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
  ResetTotpRequestSchema,
  ResetTotpResponse,
  UserInfo,
} from '@zenmesh/proto';
import { type CallOptions, Code, isRpcError } from '@zenmesh/rpc';
import { z } from 'zod';
import { ApiRefusal, invalidArgument, UpstreamAnswerError } from './api-errors.js';
import type { Route } from './api-routes.js';
import { readJsonBody } from './json-body.js';
import { describeIssue } from './request-schemas.js';
import { tokenAnswers } from './token-response-schemas.js';

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
  resetTotp(
    req: MessageInitShape<typeof ResetTotpRequestSchema>,
    o?: CallOptions,
  ): Promise<ResetTotpResponse>;
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
  mfaPending: u.mfaPending,
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
  resourceAudiences: c.resourceAudiences,
});

// Shapes only: the token service owns the rules (password length, redirect URIs, roles) and names the refusal.
const createUserBody = z.strictObject({
  username: z.string(),
  password: z.string(),
  role: z.string(),
  tenantId: z.string().optional(),
});
const listUsersQuery = z.strictObject({ tenant: z.string().optional() });
const confirmTotpBody = z.strictObject({ code: z.string() });
const enrollTotpBody = z.strictObject({ password: z.string(), currentCode: z.string().optional() });
const createClientBody = z.strictObject({
  name: z.string(),
  redirectUris: z.array(z.string()).max(32).default([]),
  grantTypes: z.array(z.string()).max(8),
  tokenEndpointAuthMethod: z.string(),
  scopes: z.array(z.string()).max(32),
  resourceAudiences: z.array(z.string()).max(8).default([]),
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
 * The token service's MFA refusals, with their reason: the caller needs to know whether to re-enter the
 * password, wait, or ask someone of higher rank. (Other PERMISSION_DENIED answers stay a bare 403.)
 */
const MFA_FORBIDDEN = new Set(['self_only', 'rank_not_higher', 'reauthentication_failed']);
async function mfaCall<T>(call: Promise<T>): Promise<T> {
  try {
    return await call;
  } catch (err) {
    if (isRpcError(err)) {
      if (err.code === Code.PERMISSION_DENIED && MFA_FORBIDDEN.has(err.reason))
        throw new ApiRefusal(403, 'forbidden', err.reason);
      if (err.code === Code.RESOURCE_EXHAUSTED && err.reason === 'account_locked')
        throw new ApiRefusal(429, 'too_many_requests', 'account_locked');
      if (err.code === Code.FAILED_PRECONDITION && err.reason === 'no_pending_enrollment')
        throw new ApiRefusal(409, 'failed_precondition', 'no_pending_enrollment');
    }
    throw err;
  }
}

/**
 * /api/v1/users and /api/v1/oauth-clients (scope keys:admin; a user's own TOTP enrollment needs only their own
 * login token), answered by the token service, which owns every rule. Passwords go in, client secrets,
 * otpauth URIs and recovery codes come out exactly once; none of them is ever logged.
 */
export function createAccountRoutes(tokens: TokenAccountClient): Route[] {
  return [
    {
      method: 'POST',
      pattern: /^\/api\/v1\/users$/,
      doc: {
        summary: 'Create a user',
        body: createUserBody,
        response: tokenAnswers.createdUser,
        status: 201,
      },
      scopes: ['keys:admin'],
      async handle({ req, call, audit }) {
        const input = await parseBody(req, createUserBody);
        const res = await tokens.createUser(
          {
            username: input.username,
            password: input.password,
            role: input.role,
            tenantId: input.tenantId ?? '',
            audit,
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
      doc: { summary: 'List users', query: listUsersQuery, response: tokenAnswers.users },
      scopes: ['keys:admin'],
      async handle({ query, call }) {
        const res = await tokens.listUsers({ tenantId: query.get('tenant') ?? '' }, call);
        return { status: 200, body: { users: res.users.map(userJson) } };
      },
    },
    {
      // The user themself (their own login token), re-authenticated: the new secret is pending until confirmed.
      method: 'POST',
      pattern: new RegExp(`^/api/v1/users/(${USER_ID})/totp$`),
      doc: {
        path: '/api/v1/users/{userId}/totp',
        summary: 'Enroll TOTP (own login token, re-authenticated)',
        body: enrollTotpBody,
        response: tokenAnswers.totpEnrollment,
      },
      scopes: [],
      async handle({ req, params, call, audit }) {
        const input = await parseBody(req, enrollTotpBody);
        const res = await mfaCall(
          tokens.enrollTotp(
            {
              userId: params[0] ?? '',
              password: input.password,
              currentCode: input.currentCode ?? '',
              audit,
            },
            call,
          ),
        );
        return { status: 200, body: { otpauthUri: res.otpauthUri, recoveryCodes: res.recoveryCodes } };
      },
    },
    {
      method: 'POST',
      pattern: new RegExp(`^/api/v1/users/(${USER_ID})/totp/confirm$`),
      doc: {
        path: '/api/v1/users/{userId}/totp/confirm',
        summary: 'Confirm a pending TOTP enrollment',
        body: confirmTotpBody,
        response: tokenAnswers.user,
      },
      scopes: [],
      async handle({ req, params, call, audit }) {
        const input = await parseBody(req, confirmTotpBody);
        const res = await mfaCall(
          tokens.confirmTotp({ userId: params[0] ?? '', code: input.code, audit }, call),
        );
        if (res.user === undefined) throw new UpstreamAnswerError('ConfirmTotp', 'a user');
        return { status: 200, body: { user: userJson(res.user) } };
      },
    },
    {
      // An admin of strictly higher rank: answers a one-time link for the user, never a secret.
      method: 'POST',
      pattern: new RegExp(`^/api/v1/users/(${USER_ID})/totp/reset$`),
      doc: {
        path: '/api/v1/users/{userId}/totp/reset',
        summary: 'Reset a user TOTP (higher rank): a one-time link',
        response: tokenAnswers.totpReset,
      },
      scopes: ['keys:admin'],
      async handle({ params, call, audit }) {
        const res = await mfaCall(tokens.resetTotp({ userId: params[0] ?? '', audit }, call));
        if (res.user === undefined || res.expiresAt === undefined)
          throw new UpstreamAnswerError('ResetTotp', 'a user and an expiry');
        return {
          status: 200,
          body: {
            enrollmentUrl: res.enrollmentUrl,
            expiresAt: timestampDate(res.expiresAt).toISOString(),
            user: userJson(res.user),
          },
        };
      },
    },
    {
      method: 'POST',
      pattern: /^\/api\/v1\/oauth-clients$/,
      doc: {
        summary: 'Register an OAuth client (its secret shown once)',
        body: createClientBody,
        response: tokenAnswers.createdClient,
        status: 201,
      },
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
      doc: { summary: 'List OAuth clients', response: tokenAnswers.clients },
      scopes: ['keys:admin'],
      async handle({ call }) {
        const res = await tokens.listClients({}, call);
        return { status: 200, body: { clients: res.clients.map(oauthClientJson) } };
      },
    },
  ];
}
