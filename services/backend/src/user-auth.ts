import { type ForwardedTokenAuthorizer, mayActOnTenant, type Principal } from '@zenmesh/auth';
import type { Db } from '@zenmesh/db';
import type { AuditContext } from '@zenmesh/proto';
import { type CallContext, Code, RpcError } from '@zenmesh/rpc';
import type { AuditActor } from './audit.js';
import { resolveTenant } from './tenants.js';

/** The verified user behind a call (null when the backend runs without a token verifier: tests, embedding). */
export type CallUser = Principal | null;

export interface UserGuard {
  /** Verifies the forwarded token and its scopes. Always the first await of a user-facing handler. */
  user(ctx: CallContext, scopes: readonly string[]): Promise<CallUser>;
  /** user(), and the principal must be cluster-wide: PERMISSION_DENIED `cluster_principal_required`. */
  cluster(ctx: CallContext, scopes: readonly string[]): Promise<CallUser>;
  /**
   * user(), then the request's tenant (id or name) resolved to its id, which the principal must be allowed
   * to act on (PERMISSION_DENIED `tenant_not_allowed`). A tenant-bound principal naming a tenant that does
   * not exist gets the same refusal, so it learns nothing about other tenants.
   */
  tenant(
    ctx: CallContext,
    scopes: readonly string[],
    ref: string,
  ): Promise<{ tenantId: string; user: CallUser }>;
}

const notAllowed = () => new RpcError(Code.PERMISSION_DENIED, 'tenant_not_allowed');

export function createUserGuard(db: Db, authorizer: ForwardedTokenAuthorizer | undefined): UserGuard {
  const user = async (ctx: CallContext, scopes: readonly string[]): Promise<CallUser> =>
    authorizer === undefined ? null : authorizer.authorize(ctx, scopes);
  return {
    user,
    async cluster(ctx, scopes) {
      const u = await user(ctx, scopes);
      if (u !== null && u.tenantId !== null)
        throw new RpcError(Code.PERMISSION_DENIED, 'cluster_principal_required');
      return u;
    },
    async tenant(ctx, scopes, ref) {
      const u = await user(ctx, scopes);
      if (u === null || u.tenantId === null) return { tenantId: (await resolveTenant(db, ref)).id, user: u };
      // A tenant-bound principal: only its own tenant is even looked up.
      if (ref !== u.tenantId && ref.startsWith('ten_')) throw notAllowed();
      let tenantId: string;
      try {
        tenantId = (await resolveTenant(db, ref)).id;
      } catch (err) {
        if ((err as { code?: unknown }).code === 'ERR_NOT_FOUND') throw notAllowed();
        throw err;
      }
      if (!mayActOnTenant(u, tenantId)) throw notAllowed();
      return { tenantId, user: u };
    },
  };
}

/**
 * Who the audit row names: the verified token's principal when there is one (`api_key:key_…` for a key's
 * exchanged token, `client:<id>` for a client-credentials token, `user:<sub>` for a login), else what the
 * edge said; `via` is always the calling workload's SPIFFE ID from its certificate; IP and user agent are
 * the edge's view (the bff is the only one that sees the client).
 */
export function auditActor(user: CallUser, audit: AuditContext | undefined, ctx: CallContext): AuditActor {
  let actor = audit?.actor ?? '';
  if (user !== null) {
    if (user.keyId !== null) actor = `api_key:${user.keyId}`;
    else if (user.subject === user.clientId) actor = `client:${user.clientId}`;
    else actor = `user:${user.subject}`;
  }
  return { actor, via: ctx.peer.spiffeId, ip: audit?.ip ?? '', userAgent: audit?.userAgent ?? '' };
}
