import type { AccessTokenClaims, RevocationCheck } from './access-token-verifier.js';

export interface IntrospectionRevocationOptions {
  /** Asks the token service (RFC 7662 over HTTP, or TokenService.Introspect over mTLS) whether a token is active. */
  introspect: (token: string) => Promise<{ active: boolean }>;
  /** How long an "active" answer is reused per jti; default 5 000 ms, at most 30 000. Refusals stick. */
  cacheTtlMs?: number;
  maxEntries?: number;
  now?: () => number;
}

/**
 * A revocation check that asks the token service, so a revoked token, family or API key is refused within
 * `cacheTtlMs` even though the JWT itself stays valid until `exp`. Active answers are cached per jti for a
 * few seconds (one token-service call per token per window); an inactive answer is remembered until the
 * token would expire anyway. If the token service cannot be reached the check throws: callers fail closed.
 */
export function createIntrospectionRevocationCheck(options: IntrospectionRevocationOptions): RevocationCheck {
  const ttl = Math.min(Math.max(options.cacheTtlMs ?? 5_000, 0), 30_000);
  const maxEntries = options.maxEntries ?? 10_000;
  const now = options.now ?? Date.now;
  const cache = new Map<string, { revoked: boolean; until: number }>();

  return async (claims: AccessTokenClaims, token: string) => {
    const at = now();
    const hit = cache.get(claims.jti);
    if (hit !== undefined && hit.until > at) return hit.revoked;
    const { active } = await options.introspect(token);
    if (cache.size >= maxEntries) {
      const oldest = cache.keys().next();
      if (oldest.done !== true) cache.delete(oldest.value);
    }
    cache.set(claims.jti, { revoked: !active, until: active ? at + ttl : claims.exp * 1000 });
    return !active;
  };
}
