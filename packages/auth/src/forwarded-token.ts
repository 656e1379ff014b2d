import { Code, RpcError } from '@zenmesh/rpc';
import type { AccessTokenVerifier, Principal } from './access-token-verifier.js';
import { isAuthError } from './errors.js';
import { hasScopes } from './scopes.js';

/** The part of @zenmesh/rpc's CallContext this needs: a request metadata value by lower-case name. */
export interface MetadataSource {
  header(name: string): string | undefined;
}

export interface ForwardedTokenAuthorizer {
  /**
   * Verifies the user's access token forwarded in `authorization: Bearer <jwt>` metadata and checks it holds
   * every scope in `required` (`admin` satisfies all). Refusals are RpcErrors: UNAUTHENTICATED with reason
   * `missing_user_token`, `invalid_user_token`, `expired_user_token` or `revoked_user_token`;
   * PERMISSION_DENIED `insufficient_scope`; UNAVAILABLE `token_keys_unavailable` when the JWKS cannot be
   * fetched (fail closed).
   */
  authorize(ctx: MetadataSource, required: readonly string[]): Promise<Principal>;
  /** authorize(), then PERMISSION_DENIED `tenant_not_allowed` unless the token may act on `tenantId`. */
  authorizeTenant(ctx: MetadataSource, required: readonly string[], tenantId: string): Promise<Principal>;
}

/** The bearer credential of an Authorization value (RFC 6750 §2.1, scheme case-insensitive), or null. */
export function bearerCredential(value: string | undefined): string | null {
  if (value === undefined) return null;
  const match = /^Bearer[ ]+([^\s]+)[ ]*$/i.exec(value);
  return match?.[1] ?? null;
}

/** True when a principal may act on `tenantId`: cluster-wide principals may act on any tenant. */
export function mayActOnTenant(principal: Principal, tenantId: string): boolean {
  return principal.tenantId === null || principal.tenantId === tenantId;
}

/**
 * For gRPC handlers (e.g. the backend) that receive a user's token forwarded by the bff: one call per
 * handler, before any work. The mesh policy table has already checked *which workload* calls; this checks
 * *on whose behalf* and with what scopes, so no internal call bypasses the user's permissions.
 */
export function createForwardedTokenAuthorizer(verify: AccessTokenVerifier): ForwardedTokenAuthorizer {
  const authorize = async (ctx: MetadataSource, required: readonly string[]): Promise<Principal> => {
    const token = bearerCredential(ctx.header('authorization'));
    if (token === null) throw new RpcError(Code.UNAUTHENTICATED, 'missing_user_token');
    let principal: Principal;
    try {
      principal = await verify(token);
    } catch (err) {
      if (isAuthError(err, 'ERR_TOKEN_EXPIRED'))
        throw new RpcError(Code.UNAUTHENTICATED, 'expired_user_token');
      if (isAuthError(err, 'ERR_TOKEN_REVOKED'))
        throw new RpcError(Code.UNAUTHENTICATED, 'revoked_user_token');
      if (isAuthError(err, 'ERR_TOKEN_INVALID'))
        throw new RpcError(Code.UNAUTHENTICATED, 'invalid_user_token');
      throw new RpcError(Code.UNAVAILABLE, 'token_keys_unavailable');
    }
    if (!hasScopes(principal.scopes, required))
      throw new RpcError(Code.PERMISSION_DENIED, 'insufficient_scope');
    return principal;
  };
  return {
    authorize,
    async authorizeTenant(ctx, required, tenantId) {
      const principal = await authorize(ctx, required);
      if (!mayActOnTenant(principal, tenantId))
        throw new RpcError(Code.PERMISSION_DENIED, 'tenant_not_allowed');
      return principal;
    },
  };
}
