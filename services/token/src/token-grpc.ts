import { timestampDate, timestampFromDate } from '@bufbuild/protobuf/wkt';
import { createForwardedTokenAuthorizer, isScope, type Principal } from '@zenmesh/auth';
import type { Db } from '@zenmesh/db';
import type { TokenService } from '@zenmesh/proto';
import { Code, RpcError, type ServiceImpl } from '@zenmesh/rpc';
import type { AccessTokens } from './access-tokens.js';
import { createAccountAdmin } from './account-admin.js';
import type { AccountAudit } from './account-audit.js';
import { createAccountMfa } from './account-mfa.js';
import type { ApiKeyRecord, ApiKeyStore, ApiKeyVerdict } from './api-key-store.js';
import type { ClientStore } from './clients.js';
import type { EnrollmentLinks } from './enrollment-links.js';
import { introspectToken } from './introspection.js';
import type { LoginBackoff } from './login-backoff.js';
import type { SessionStore } from './sessions.js';
import type { SigningKeyInfo, SigningKeyRing } from './signing-keys.js';
import type { UserStore } from './users.js';

/** The VerifyApiKeyResponse fields, every one present. */
export interface VerifyApiKeyAnswer {
  valid: boolean;
  keyId: string;
  /** Empty for a cluster-wide key. */
  tenantId: string;
  scopes: string[];
}

/** Refusals carry no detail at all: unknown, revoked, expired and malformed keys look the same. */
export function toVerifyApiKeyAnswer(verdict: ApiKeyVerdict): VerifyApiKeyAnswer {
  if (!verdict.valid) return { valid: false, keyId: '', tenantId: '', scopes: [] };
  return { valid: true, keyId: verdict.keyId, tenantId: verdict.tenantId ?? '', scopes: [...verdict.scopes] };
}

/** Verifies a presented key against the store: the function behind TokenService.VerifyApiKey. */
export function createApiKeyVerifier(store: ApiKeyStore): (apiKey: string) => Promise<VerifyApiKeyAnswer> {
  return async (apiKey) => toVerifyApiKeyAnswer(await store.verify(apiKey));
}

/** What the OAuth side lends the gRPC face; absent when the service runs without a secrets directory. */
export interface TokenGrpcOAuth {
  issuer: string;
  /** `aud` of the access tokens: the mesh resource server that the workloads allowed to Introspect form. */
  audience: string;
  tokens: AccessTokens;
  sessions: SessionStore;
  keys: SigningKeyRing;
  users: UserStore;
  clients: ClientStore;
  db: Db;
  links: EnrollmentLinks;
  accountAudit: AccountAudit;
  backoff: LoginBackoff;
  /** Lifetime of a token exchanged from an API key, seconds. */
  exchangeTtlSec: number;
}

const keyInfo = (r: ApiKeyRecord) => ({
  id: r.id,
  tenantId: r.tenantId ?? '',
  name: r.name,
  scopes: r.scopes,
  createdAt: timestampFromDate(r.createdAt),
  ...(r.expiresAt === null ? {} : { expiresAt: timestampFromDate(r.expiresAt) }),
  ...(r.revokedAt === null ? {} : { revokedAt: timestampFromDate(r.revokedAt) }),
});

const signingKeyInfo = (k: SigningKeyInfo) => ({
  kid: k.kid,
  alg: k.alg,
  state: k.state,
  createdAt: timestampFromDate(k.createdAt),
  ...(k.retiredAt === null ? {} : { retiredAt: timestampFromDate(k.retiredAt) }),
});

const clusterOnly = (p: Principal) => {
  if (p.tenantId !== null) throw new RpcError(Code.PERMISSION_DENIED, 'cluster_principal_required');
};

/**
 * The TokenService handlers. Which workload may call each is the mesh policy table's business; the admin
 * methods additionally verify the acting user's forwarded access token and its scopes here, so the bff
 * holding an mTLS identity is never enough on its own.
 */
export function createTokenServiceImpl(
  store: ApiKeyStore,
  oauth?: TokenGrpcOAuth,
): ServiceImpl<(typeof TokenService)['method']> {
  const verify = createApiKeyVerifier(store);
  const need = () => {
    if (oauth === undefined) throw new RpcError(Code.FAILED_PRECONDITION, 'oauth_not_configured');
    return oauth;
  };
  const authorizer = oauth === undefined ? null : createForwardedTokenAuthorizer(oauth.tokens.verify);
  const actor = (ctx: { header(n: string): string | undefined }, scopes: string[]) => {
    if (authorizer === null) throw new RpcError(Code.FAILED_PRECONDITION, 'oauth_not_configured');
    return authorizer.authorize(ctx, scopes);
  };
  const accounts =
    oauth === undefined
      ? null
      : {
          ...createAccountAdmin({
            users: oauth.users,
            clients: oauth.clients,
            audit: oauth.accountAudit,
            actor: (ctx, s) => actor(ctx, s),
          }),
          ...createAccountMfa({
            db: oauth.db,
            users: oauth.users,
            links: oauth.links,
            audit: oauth.accountAudit,
            backoff: oauth.backoff,
            sessions: oauth.sessions,
            actor: (ctx, s) => actor(ctx, s),
          }),
        };
  const withAccounts = () => {
    if (accounts === null) throw new RpcError(Code.FAILED_PRECONDITION, 'oauth_not_configured');
    return accounts;
  };

  return {
    async verifyApiKey(req, ctx) {
      const answer = await verify(req.apiKey);
      // The key itself is never logged; the key id is enough to trace who called.
      ctx.logger.debug({ valid: answer.valid, keyId: answer.keyId || undefined }, 'api key verified');
      return answer;
    },

    async introspect(req) {
      const o = need();
      // Only bff and backend may call this (MESH_POLICY); they are the resource servers of the mesh audience,
      // so they learn about mesh access tokens and nothing else (not refresh tokens, not other audiences).
      const a = await introspectToken(o, req.token, { kind: 'resource_server', audiences: [o.audience] });
      if (!a.active) return { active: false };
      return {
        active: true,
        tokenType: a.token_type ?? '',
        clientId: a.client_id ?? '',
        sub: a.sub ?? '',
        scope: a.scope ?? '',
        tenantId: a.tenant_id ?? '',
        jti: a.jti ?? '',
        sessionId: a.sid ?? '',
        keyId: a.key_id ?? '',
        ...(a.exp === undefined ? {} : { expiresAt: timestampFromDate(new Date(a.exp * 1000)) }),
        ...(a.iat === undefined ? {} : { issuedAt: timestampFromDate(new Date(a.iat * 1000)) }),
      };
    },

    async exchangeApiKey(req, ctx) {
      const o = need();
      const verdict = await store.verify(req.apiKey);
      if (!verdict.valid) return { valid: false };
      const minted = await o.tokens.mint({
        sub: verdict.keyId,
        clientId: ctx.peer.spiffeId,
        scopes: verdict.scopes,
        tenantId: verdict.tenantId,
        keyId: verdict.keyId,
        ttlSec: o.exchangeTtlSec,
      });
      return {
        valid: true,
        accessToken: minted.token,
        expiresAt: timestampFromDate(minted.expiresAt),
        keyId: verdict.keyId,
        tenantId: verdict.tenantId ?? '',
        scopes: verdict.scopes,
      };
    },

    async createApiKey(req, ctx) {
      const p = await actor(ctx, ['keys:admin']);
      const tenantId = req.tenantId === '' ? p.tenantId : req.tenantId;
      if (p.tenantId !== null && tenantId !== p.tenantId)
        throw new RpcError(Code.PERMISSION_DENIED, 'tenant_not_allowed');
      // An empty list would mint a key that can do nothing; say so rather than store it.
      if (req.scopes.length === 0) throw new RpcError(Code.INVALID_ARGUMENT, 'scopes_required');
      if (!req.scopes.every(isScope)) throw new RpcError(Code.INVALID_ARGUMENT, 'unknown_scope');
      // No escalation: a caller can only hand out scopes it holds itself.
      if (!p.scopes.includes('admin') && !req.scopes.every((s) => p.scopes.includes(s))) {
        throw new RpcError(Code.PERMISSION_DENIED, 'scope_not_held');
      }
      if (req.name.length === 0 || req.name.length > 200)
        throw new RpcError(Code.INVALID_ARGUMENT, 'name_invalid');
      const expiresAt = req.expiresAt === undefined ? null : timestampDate(req.expiresAt);
      if (expiresAt !== null && expiresAt.getTime() <= Date.now())
        throw new RpcError(Code.INVALID_ARGUMENT, 'expires_at_in_past');
      const { apiKey, record } = await store.create({
        name: req.name,
        scopes: [...new Set(req.scopes)],
        tenantId,
        expiresAt,
      });
      ctx.logger.info({ keyId: record.id, by: p.subject }, 'api key created');
      return { apiKey, key: keyInfo(record) };
    },

    async listApiKeys(req, ctx) {
      const p = await actor(ctx, ['keys:admin']);
      if (p.tenantId !== null && req.tenantId !== '' && req.tenantId !== p.tenantId) {
        throw new RpcError(Code.PERMISSION_DENIED, 'tenant_not_allowed');
      }
      const filter = p.tenantId ?? (req.tenantId === '' ? undefined : req.tenantId);
      return { keys: (await store.list(filter)).map(keyInfo) };
    },

    async revokeApiKey(req, ctx) {
      const p = await actor(ctx, ['keys:admin']);
      const record = await store.get(req.id);
      // A key of another tenant is "not found", so a tenant admin learns nothing about other tenants.
      if (record === null || (p.tenantId !== null && record.tenantId !== p.tenantId)) {
        throw new RpcError(Code.NOT_FOUND, 'api_key_not_found');
      }
      await store.revoke(req.id);
      ctx.logger.info({ keyId: req.id, by: p.subject }, 'api key revoked');
      const after = await store.get(req.id);
      return { key: keyInfo(after ?? record) };
    },

    async rotateSigningKey(_req, ctx) {
      const o = need();
      clusterOnly(await actor(ctx, ['admin']));
      const keys = await o.keys.rotate();
      ctx.logger.info({ current: keys.find((k) => k.state === 'current')?.kid }, 'signing keys rotated');
      return { keys: keys.map(signingKeyInfo) };
    },

    async listSigningKeys(_req, ctx) {
      const o = need();
      clusterOnly(await actor(ctx, ['admin']));
      return { keys: o.keys.list().map(signingKeyInfo) };
    },

    createUser: (req, ctx) => withAccounts().createUser(req, ctx),
    listUsers: (req, ctx) => withAccounts().listUsers(req, ctx),
    enrollTotp: (req, ctx) => withAccounts().enrollTotp(req, ctx),
    confirmTotp: (req, ctx) => withAccounts().confirmTotp(req, ctx),
    resetTotp: (req, ctx) => withAccounts().resetTotp(req, ctx),
    createClient: (req, ctx) => withAccounts().createClient(req, ctx),
    listClients: (req, ctx) => withAccounts().listClients(req, ctx),
  };
}
