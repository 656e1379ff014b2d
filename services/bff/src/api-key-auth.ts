import { createHash } from 'node:crypto';

/** What the token service answers for a presented key (the VerifyApiKeyResponse shape). */
export interface ApiKeyVerification {
  valid: boolean;
  keyId: string;
  /** Empty for a cluster-wide key. */
  tenantId: string;
  scopes: readonly string[];
}

export type VerifyApiKey = (apiKey: string) => Promise<ApiKeyVerification>;

/** The verified caller of one request. */
export interface ApiCaller {
  keyId: string;
  /** null for a cluster-wide key. */
  tenantId: string | null;
  scopes: readonly string[];
}

/** Upper bound on how long a revoked key keeps working through this cache (the app defaults to 5 s). */
export const MAX_AUTH_CACHE_MS = 30_000;

export interface CachedVerifierOptions {
  ttlMs?: number;
  maxEntries?: number;
  now?: () => number;
}

/**
 * Wraps a verifier with a short cache of valid answers, so a CLI session does not cost a token-service call
 * per request. Entries are keyed by SHA-256 of the key so the plaintext is never retained; refusals are not
 * cached, so a key created a moment ago works at once. Revocation takes effect within `ttlMs` (<= 30 s).
 */
export function createCachedApiKeyVerifier(
  verify: VerifyApiKey,
  options: CachedVerifierOptions = {},
): (apiKey: string) => Promise<ApiCaller | null> {
  const ttlMs = Math.min(options.ttlMs ?? MAX_AUTH_CACHE_MS, MAX_AUTH_CACHE_MS);
  const maxEntries = options.maxEntries ?? 10_000;
  const now = options.now ?? Date.now;
  const cache = new Map<string, { caller: ApiCaller; expiresAt: number }>();

  return async (apiKey) => {
    const digest = createHash('sha256').update(apiKey).digest('hex');
    const hit = cache.get(digest);
    if (hit !== undefined) {
      if (hit.expiresAt > now()) return hit.caller;
      cache.delete(digest);
    }
    const answer = await verify(apiKey);
    if (!answer.valid) return null;
    const caller: ApiCaller = {
      keyId: answer.keyId,
      tenantId: answer.tenantId === '' ? null : answer.tenantId,
      scopes: [...answer.scopes],
    };
    if (ttlMs > 0) {
      // Map iteration order is insertion order, so the first key is the oldest entry.
      if (cache.size >= maxEntries) {
        const oldest = cache.keys().next();
        if (oldest.done !== true) cache.delete(oldest.value);
      }
      cache.set(digest, { caller, expiresAt: now() + ttlMs });
    }
    return caller;
  };
}

/**
 * The credential of an `Authorization: Bearer <token>` header (RFC 6750 §2.1; the scheme is
 * case-insensitive per RFC 9110 §11.1), or null when the header is absent or another scheme.
 */
export function bearerToken(header: string | undefined): string | null {
  if (header === undefined) return null;
  const match = /^Bearer[ ]+([^\s]+)[ ]*$/i.exec(header);
  return match?.[1] ?? null;
}
