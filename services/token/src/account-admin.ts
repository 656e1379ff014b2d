import { hasScopes, isRole, isScope, OIDC_SCOPES, type Principal, ROLE_SCOPES } from '@zenmesh/auth';
import type { TokenService } from '@zenmesh/proto';
import { Code, RpcError, type ServiceImpl } from '@zenmesh/rpc';
import type { AccountAudit } from './account-audit.js';
import { actorOf, userInfo } from './account-mfa.js';
import type { ClientAuthMethod, ClientStore, GrantType, OAuthClient } from './clients.js';
import { TokenError } from './errors.js';
import type { UserRecord, UserStore } from './users.js';

type Impl = ServiceImpl<(typeof TokenService)['method']>;
type Ctx = Parameters<Impl['createUser']>[1];
type AdminMethods = Pick<Impl, 'createUser' | 'listUsers' | 'createClient' | 'listClients'>;

const TENANT_ID = /^ten_[a-z2-7]{26}$/;
const USERNAME = /^[a-z0-9._@+-]{1,200}$/;
const AUTH_METHODS: readonly ClientAuthMethod[] = ['client_secret_basic', 'client_secret_post', 'none'];
const GRANT_TYPES: readonly GrantType[] = ['authorization_code', 'client_credentials', 'refresh_token'];
const LOOPBACK = new Set(['127.0.0.1', '[::1]', 'localhost']);

const isAudience = (a: string) => a.length <= 200 && /^[a-z][a-z0-9+.-]*:[^\s]+$/i.test(a);
const invalid = (reason: string) => new RpcError(Code.INVALID_ARGUMENT, reason);

/**
 * RFC 9700 §4.1.1 / RFC 8252 §7.3: exact, absolute redirect URIs without a fragment; plain http only for a
 * native app's loopback listener, since anything else would hand the code to the network in the clear.
 */
export function isAllowedRedirectUri(uri: string): boolean {
  let u: URL;
  try {
    u = new URL(uri);
  } catch {
    return false;
  }
  if (u.hash !== '' || u.username !== '' || u.password !== '' || uri.includes('#')) return false;
  if (u.protocol === 'https:') return true;
  return u.protocol === 'http:' && LOOPBACK.has(u.hostname);
}

const clientInfo = (c: OAuthClient) => ({
  id: c.id,
  name: c.name,
  tokenEndpointAuthMethod: c.authMethod,
  redirectUris: c.redirectUris,
  grantTypes: c.grantTypes,
  scopes: c.scopes,
  tenantId: c.tenantId ?? '',
  resourceAudiences: c.resourceAudiences,
});

/**
 * The user and OAuth-client admin methods of TokenService (scope keys:admin). A tenant-bound caller manages
 * only its tenant's users and never hands out a role whose scopes it lacks; OAuth clients are cluster
 * infrastructure, so only a cluster-wide caller registers them. Passwords, secrets, TOTP seeds and recovery
 * codes pass through here but are never logged.
 */
export function createAccountAdmin(options: {
  users: UserStore;
  clients: ClientStore;
  audit: AccountAudit;
  actor: (ctx: Ctx, scopes: string[]) => Promise<Principal>;
}): AdminMethods {
  const { users, clients, audit, actor } = options;

  return {
    async createUser(req, ctx) {
      const p = await actor(ctx, ['keys:admin']);
      if (req.tenantId !== '' && !TENANT_ID.test(req.tenantId)) throw invalid('tenant_id_invalid');
      const tenantId = req.tenantId === '' ? p.tenantId : req.tenantId;
      if (p.tenantId !== null && tenantId !== p.tenantId)
        throw new RpcError(Code.PERMISSION_DENIED, 'tenant_not_allowed');
      const username = req.username.trim().toLowerCase();
      if (!USERNAME.test(username)) throw invalid('username_invalid');
      if (req.password.length < 12) throw invalid('password_too_short');
      if (req.password.length > 1024) throw invalid('password_too_long');
      if (!isRole(req.role)) throw invalid('role_invalid');
      // No escalation: the role's scopes must all be held by the caller (admin holds everything).
      if (!hasScopes(p.scopes, ROLE_SCOPES[req.role]))
        throw new RpcError(Code.PERMISSION_DENIED, 'scope_not_held');
      let user: UserRecord;
      try {
        user = await users.create({ username, password: req.password });
      } catch (err) {
        if (err instanceof TokenError && err.code === 'ERR_USER_EXISTS')
          throw new RpcError(Code.ALREADY_EXISTS, 'username_taken');
        throw err;
      }
      await users.setRole(user.id, tenantId, req.role);
      const created = (await users.get(user.id)) ?? user;
      await audit.append(
        { actor: actorOf(p), via: ctx.peer.spiffeId, ip: req.audit?.ip, userAgent: req.audit?.userAgent },
        { action: 'user.create', target: `user/${user.id}`, detail: { tenantId, role: req.role } },
      );
      ctx.logger.info({ userId: user.id, role: req.role, tenantId, by: p.subject }, 'user created');
      return { userId: user.id, user: userInfo(created) };
    },

    async listUsers(req, ctx) {
      const p = await actor(ctx, ['keys:admin']);
      if (req.tenantId !== '' && !TENANT_ID.test(req.tenantId)) throw invalid('tenant_id_invalid');
      if (p.tenantId !== null && req.tenantId !== '' && req.tenantId !== p.tenantId)
        throw new RpcError(Code.PERMISSION_DENIED, 'tenant_not_allowed');
      const filter = p.tenantId ?? (req.tenantId === '' ? undefined : req.tenantId);
      return { users: (await users.list(filter)).map(userInfo) };
    },

    async createClient(req, ctx) {
      const p = await actor(ctx, ['keys:admin']);
      if (p.tenantId !== null) throw new RpcError(Code.PERMISSION_DENIED, 'cluster_principal_required');
      if (req.name.length === 0 || req.name.length > 200) throw invalid('name_invalid');
      const method = AUTH_METHODS.find((m) => m === req.tokenEndpointAuthMethod);
      if (method === undefined) throw invalid('token_endpoint_auth_method_invalid');
      if (req.grantTypes.length === 0) throw invalid('grant_types_required');
      const grants = [...new Set(req.grantTypes)];
      if (!grants.every((g) => (GRANT_TYPES as readonly string[]).includes(g)))
        throw invalid('grant_type_invalid');
      // A public client has no secret to prove who it is, so it may only run the PKCE login.
      if (method === 'none' && grants.includes('client_credentials'))
        throw invalid('public_client_grant_not_allowed');
      if (!req.redirectUris.every(isAllowedRedirectUri)) throw invalid('redirect_uri_invalid');
      if (grants.includes('authorization_code') && req.redirectUris.length === 0)
        throw invalid('redirect_uris_required');
      if (req.scopes.length === 0) throw invalid('scopes_required');
      // An audience is a URI (RFC 7519 §4.1.3 StringOrURI): an absolute one, no spaces, bounded.
      if (req.resourceAudiences.length > 8 || !req.resourceAudiences.every(isAudience))
        throw invalid('resource_audience_invalid');
      const oidc = OIDC_SCOPES as readonly string[];
      if (!req.scopes.every((s) => isScope(s) || oidc.includes(s))) throw invalid('unknown_scope');
      if (!hasScopes(p.scopes, req.scopes.filter(isScope)))
        throw new RpcError(Code.PERMISSION_DENIED, 'scope_not_held');
      const { client, clientSecret } = await clients.create({
        name: req.name,
        authMethod: method,
        redirectUris: [...new Set(req.redirectUris)],
        grantTypes: grants as GrantType[],
        scopes: [...new Set(req.scopes)],
        resourceAudiences: req.resourceAudiences,
      });
      ctx.logger.info({ clientId: client.id, authMethod: method, by: p.subject }, 'oauth client created');
      return { clientId: client.id, clientSecret: clientSecret ?? '', client: clientInfo(client) };
    },

    async listClients(_req, ctx) {
      const p = await actor(ctx, ['keys:admin']);
      if (p.tenantId !== null) throw new RpcError(Code.PERMISSION_DENIED, 'cluster_principal_required');
      return { clients: (await clients.list()).map(clientInfo) };
    },
  };
}
