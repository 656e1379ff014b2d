import type { IncomingMessage, ServerResponse } from 'node:http';
import { bearerCredential, isAuthError, SCOPES } from '@zenmesh/auth';
import type { Logger } from '@zenmesh/telemetry';
import type { AccessTokens } from './access-tokens.js';
import type { createAuthorizeEndpoint } from './authorize-endpoint.js';
import { type createClientAuthenticator, parseBasicAuth } from './clients.js';
import { ENROLLMENT_PATH } from './enrollment-links.js';
import { OAuthError } from './errors.js';
import type { Grants } from './grants.js';
import { readForm, sendJson } from './http-util.js';
import { introspectToken } from './introspection.js';
import type { RateLimiter } from './rate-limit.js';
import { REFRESH_TOKEN_PREFIX, type SessionStore } from './sessions.js';
import type { SigningKeyRing } from './signing-keys.js';
import type { createTotpEnrollmentPage } from './totp-enrollment-page.js';
import type { UserStore } from './users.js';

export const PATHS = {
  discovery: '/.well-known/openid-configuration',
  asMetadata: '/.well-known/oauth-authorization-server',
  jwks: '/.well-known/jwks.json',
  token: '/oauth/token',
  introspect: '/oauth/introspect',
  revoke: '/oauth/revoke',
  authorize: '/oauth/authorize',
  userinfo: '/oauth/userinfo',
  enrollment: ENROLLMENT_PATH,
} as const;

export interface OAuthDeps {
  issuer: string;
  logger: Logger;
  keys: SigningKeyRing;
  tokens: AccessTokens;
  grants: Grants;
  sessions: SessionStore;
  users: UserStore;
  authenticateClient: ReturnType<typeof createClientAuthenticator>;
  authorize: ReturnType<typeof createAuthorizeEndpoint>;
  enrollment: ReturnType<typeof createTotpEnrollmentPage>;
  /** `ip`: taken before the request is read; `client`: taken once the client has authenticated. */
  limiters: { ip: RateLimiter; client: RateLimiter };
  ip: (req: IncomingMessage) => string;
}

export function createOAuthEndpoints(deps: OAuthDeps) {
  const { issuer } = deps;
  const metadata = {
    issuer,
    authorization_endpoint: `${issuer}${PATHS.authorize}`,
    token_endpoint: `${issuer}${PATHS.token}`,
    introspection_endpoint: `${issuer}${PATHS.introspect}`,
    revocation_endpoint: `${issuer}${PATHS.revoke}`,
    userinfo_endpoint: `${issuer}${PATHS.userinfo}`,
    jwks_uri: `${issuer}${PATHS.jwks}`,
    response_types_supported: ['code'],
    response_modes_supported: ['query'],
    grant_types_supported: ['authorization_code', 'client_credentials', 'refresh_token'],
    code_challenge_methods_supported: ['S256'],
    token_endpoint_auth_methods_supported: [
      'client_secret_basic',
      'client_secret_post',
      'private_key_jwt',
      'none',
    ],
    token_endpoint_auth_signing_alg_values_supported: ['ES256', 'EdDSA', 'RS256', 'PS256'],
    introspection_endpoint_auth_methods_supported: [
      'client_secret_basic',
      'client_secret_post',
      'private_key_jwt',
    ],
    revocation_endpoint_auth_methods_supported: [
      'client_secret_basic',
      'client_secret_post',
      'private_key_jwt',
      'none',
    ],
    // The API scopes of @zenmesh/auth; `profile` and `email` (OIDC_SCOPES) are accepted but not advertised.
    scopes_supported: ['openid', 'offline_access', ...SCOPES],
    subject_types_supported: ['public'],
    id_token_signing_alg_values_supported: ['ES256', 'EdDSA', 'RS256'],
    claims_supported: [
      'sub',
      'iss',
      'aud',
      'exp',
      'iat',
      'auth_time',
      'nonce',
      'sid',
      'amr',
      'preferred_username',
      'tenant_id',
    ],
    authorization_response_iss_parameter_supported: true,
  };

  const spend = async (limiter: RateLimiter, key: string): Promise<Record<string, string>> => {
    const decision = await limiter.consume(key);
    if (!decision.allowed) {
      const { headers, retryAfterSec: retryAfter } = decision;
      throw new OAuthError('rate_limited', 'too many requests', 429, { headers, retryAfter });
    }
    return decision.headers;
  };

  /**
   * Every credential endpoint is limited twice: per client IP before anything is read (rotating client ids
   * does not escape it), then per client once it has authenticated (a stranger sending a real client's id
   * fails authentication and spends only its own IP's budget). The answer carries the client's headers.
   */
  const clientRequest = async (req: IncomingMessage, allowPublic: boolean) => {
    const ipHeaders = await spend(deps.limiters.ip, `ip:${deps.ip(req)}`);
    let form: URLSearchParams;
    let client: Awaited<ReturnType<typeof deps.authenticateClient>>;
    try {
      form = await readForm(req);
      const basic = parseBasicAuth(req.headers.authorization);
      client = await deps.authenticateClient({ basic, form }, allowPublic);
    } catch (err) {
      // Refused before the client is known: the answer reports the IP budget it was counted against.
      if (err instanceof OAuthError) err.headers = { ...ipHeaders, ...err.headers };
      throw err;
    }
    const headers = await spend(deps.limiters.client, `client:${client.id}`);
    return { form, client, headers };
  };

  return {
    metadata,
    async route(req: IncomingMessage, res: ServerResponse, url: URL): Promise<boolean> {
      const m = req.method ?? 'GET';
      switch (url.pathname) {
        case PATHS.discovery:
        case PATHS.asMetadata:
          if (m !== 'GET') break;
          sendJson(res, 200, metadata, { 'cache-control': 'public, max-age=300' });
          return true;
        case PATHS.jwks:
          if (m !== 'GET') break;
          await deps.keys.reload();
          // Short max-age: verifiers also refetch on an unknown kid, and the next key is always pre-published.
          sendJson(res, 200, deps.keys.jwks(), { 'cache-control': 'public, max-age=60' });
          return true;
        case PATHS.token: {
          if (m !== 'POST') break;
          const { form, client, headers } = await clientRequest(req, true);
          const answer = await deps.grants.token(client, form, deps.ip(req));
          sendJson(res, 200, answer, headers);
          return true;
        }
        case PATHS.introspect: {
          if (m !== 'POST') break;
          // RFC 7662 §2.1: the caller must be authenticated; public clients may not introspect.
          const { form, client, headers } = await clientRequest(req, false);
          const token = form.get('token');
          if (token === null || token === '') throw new OAuthError('invalid_request', 'token is required');
          sendJson(res, 200, await introspectToken(deps, token, { kind: 'client', client }), headers);
          return true;
        }
        case PATHS.revoke: {
          if (m !== 'POST') break;
          const { form, client, headers } = await clientRequest(req, true);
          const token = form.get('token');
          if (token === null || token === '') throw new OAuthError('invalid_request', 'token is required');
          await revoke(token, client.id);
          // RFC 7009 §2.2: unknown or foreign tokens still answer 200, so the endpoint is no token oracle.
          sendJson(res, 200, {}, headers);
          return true;
        }
        case PATHS.authorize:
          if (m === 'GET') await deps.authorize.get(req, res, url);
          else if (m === 'POST') await deps.authorize.post(req, res);
          else break;
          return true;
        case PATHS.enrollment:
          if (m === 'GET') await deps.enrollment.get(req, res, url);
          else if (m === 'POST') await deps.enrollment.post(req, res);
          else break;
          return true;
        case PATHS.userinfo: {
          if (m !== 'GET' && m !== 'POST') break;
          const token = bearerCredential(req.headers.authorization);
          const principal = token === null ? null : await deps.tokens.verify(token).catch(() => null);
          if (principal === null || !principal.scopes.includes('openid')) {
            sendJson(
              res,
              401,
              { error: 'invalid_token' },
              { 'www-authenticate': 'Bearer error="invalid_token"' },
            );
            return true;
          }
          const user = await deps.users.get(principal.subject);
          if (user === null) {
            sendJson(
              res,
              401,
              { error: 'invalid_token' },
              { 'www-authenticate': 'Bearer error="invalid_token"' },
            );
            return true;
          }
          sendJson(res, 200, {
            sub: user.id,
            preferred_username: user.username,
            ...(principal.tenantId === null ? {} : { tenant_id: principal.tenantId }),
          });
          return true;
        }
        default:
          return false;
      }
      sendJson(res, 405, { error: 'method_not_allowed' });
      return true;
    },
  };

  async function revoke(token: string, clientId: string): Promise<void> {
    if (token.startsWith(REFRESH_TOKEN_PREFIX)) {
      const found = await deps.sessions.lookup(token);
      // Revoking a refresh token ends its whole grant (RFC 7009 §2.1): the family and its access tokens.
      if (found !== null && found.session.clientId === clientId) {
        await deps.sessions.revokeSession(found.session.id, 'revoked_by_client');
      }
      return;
    }
    try {
      const p = await deps.tokens.verify(token);
      if (p.clientId === clientId) await deps.tokens.revokeJti(p.jti, p.expiresAt);
    } catch (err) {
      if (!isAuthError(err)) throw err;
    }
  }
}
