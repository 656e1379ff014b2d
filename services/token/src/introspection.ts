import type { AccessTokenClaims } from '@zenmesh/auth';
import { isAuthError } from '@zenmesh/auth';
import type { AccessTokens } from './access-tokens.js';
import type { OAuthClient } from './clients.js';
import { REFRESH_TOKEN_PREFIX, type SessionStore } from './sessions.js';

/** RFC 7662 §2.2: the answer of an introspection. */
export interface IntrospectionAnswer {
  active: boolean;
  token_type?: string;
  client_id?: string;
  sub?: string;
  scope?: string;
  tenant_id?: string;
  jti?: string;
  exp?: number;
  iat?: number;
  iss?: string;
  aud?: string | string[];
  sid?: string;
  key_id?: string;
}

export interface IntrospectionDeps {
  issuer: string;
  tokens: AccessTokens;
  sessions: SessionStore;
}

/**
 * Who asks to introspect (RFC 7662 §4: the server should say which protected resources may learn about a
 * token). An OAuth client authenticated at /oauth/introspect, or a mesh workload over gRPC, which the policy
 * table lets call Introspect only because it is a resource server of the mesh audience.
 */
export type IntrospectionCaller =
  | { kind: 'client'; client: Pick<OAuthClient, 'id' | 'resourceAudiences'> }
  | { kind: 'resource_server'; audiences: readonly string[] };

const audiencesOf = (aud: string | string[] | undefined): string[] =>
  aud === undefined ? [] : Array.isArray(aud) ? aud : [aud];

/**
 * RFC 7662 §2.2: an inactive token gets `{active: false}` and nothing else — and so does a token the caller
 * has no business with (§4): an access token is described only to the client it was issued to or to a
 * resource server of one of its audiences, a refresh token only to its own client. Otherwise any client
 * could scan for live tokens and read their subject, tenant and scopes.
 */
export async function introspectToken(
  deps: IntrospectionDeps,
  token: string,
  caller: IntrospectionCaller,
): Promise<IntrospectionAnswer> {
  if (token.startsWith(REFRESH_TOKEN_PREFIX)) {
    // Resource servers never hold refresh tokens; only the client that received one may ask about it.
    if (caller.kind !== 'client') return { active: false };
    const found = await deps.sessions.lookup(token);
    if (found === null || !found.active) return { active: false };
    if (found.session.clientId !== caller.client.id) return { active: false };
    return {
      active: true,
      token_type: 'refresh_token',
      client_id: found.session.clientId,
      sub: found.session.userId ?? found.session.clientId,
      scope: found.session.scopes.join(' '),
      ...(found.session.tenantId === null ? {} : { tenant_id: found.session.tenantId }),
      exp: Math.floor(found.expiresAt.getTime() / 1000),
      iss: deps.issuer,
      sid: found.session.id,
    };
  }
  try {
    const p = await deps.tokens.verify(token);
    const c: AccessTokenClaims = p.claims;
    const aud = audiencesOf(c.aud);
    const allowed =
      caller.kind === 'client'
        ? c.client_id === caller.client.id || aud.some((a) => caller.client.resourceAudiences.includes(a))
        : aud.some((a) => caller.audiences.includes(a));
    if (!allowed) return { active: false };
    return {
      active: true,
      token_type: 'Bearer',
      client_id: c.client_id,
      sub: c.sub,
      scope: p.scopes.join(' '),
      ...(p.tenantId === null ? {} : { tenant_id: p.tenantId }),
      jti: c.jti,
      exp: c.exp,
      iat: c.iat,
      iss: c.iss,
      ...(c.aud === undefined ? {} : { aud: c.aud }),
      ...(p.sessionId === null ? {} : { sid: p.sessionId }),
      ...(p.keyId === null ? {} : { key_id: p.keyId }),
    };
  } catch (err) {
    if (isAuthError(err)) return { active: false };
    throw err;
  }
}
