import { createHash } from 'node:crypto';
import { type AccessTokenVerifier, isAuthError } from '@zenmesh/auth';
import { ApiRefusal, unauthenticated } from './api-errors.js';
import {
  type ApiCaller,
  bearerToken,
  createCachedApiKeyVerifier,
  type VerifyApiKey,
} from './api-key-auth.js';

/** Exchanges an API key for a short-lived access token to forward to the backend (TokenService.ExchangeApiKey). */
export type ExchangeApiKey = (
  apiKey: string,
) => Promise<{ valid: boolean; accessToken: string; expiresAt: Date | null }>;

export interface CallerAuthOptions {
  verifyApiKey: VerifyApiKey;
  /** Verifies bearer JWTs (RFC 9068) from the token service's JWKS; JWTs are refused when absent. */
  verifyAccessToken?: AccessTokenVerifier | undefined;
  /** When set, API-key callers get an exchanged access token forwarded to the backend. */
  exchangeApiKey?: ExchangeApiKey | undefined;
  /** Cache of valid API-key answers; default 5 s, at most 30 s. */
  authCacheTtlMs?: number | undefined;
  now?: () => number;
}

/** A verified caller, plus the token to forward to the backend on its behalf (if any). */
export interface AuthenticatedCaller extends ApiCaller {
  kind: 'api_key' | 'access_token';
  /**
   * Who this is in an audit row: `api_key:key_…` (a key, or a token exchanged from one), `client:<id>` (a
   * client-credentials token) or `user:<sub>` (a login). The backend derives the same from the token itself.
   */
  actor: string;
  /** `authorization` metadata for calls made on this caller's behalf; undefined when nothing is forwarded. */
  forward(): Promise<Record<string, string> | undefined>;
}

const API_KEY_PREFIX = 'zm_';
const SERVICE_UNAVAILABLE = () => new ApiRefusal(503, 'unavailable');

/**
 * Accepts either an API key (`zm_…`, checked with the token service, answers cached a few seconds) or a
 * bearer access token (verified locally against the JWKS: pinned algorithms, issuer, audience, typ; then
 * checked for revocation). Both refuse the same way: 401 `unauthenticated`.
 */
export function createCallerAuth(options: CallerAuthOptions) {
  const verifyKey = createCachedApiKeyVerifier(options.verifyApiKey, {
    ttlMs: options.authCacheTtlMs ?? 5_000,
    ...(options.now === undefined ? {} : { now: options.now }),
  });
  const now = options.now ?? Date.now;
  const exchanged = new Map<string, { token: string; until: number }>();

  const forwardFor = (apiKey: string) => async (): Promise<Record<string, string> | undefined> => {
    const exchange = options.exchangeApiKey;
    if (exchange === undefined) return undefined;
    const digest = createHash('sha256').update(apiKey).digest('hex');
    const hit = exchanged.get(digest);
    if (hit !== undefined && hit.until > now()) return { authorization: `Bearer ${hit.token}` };
    const answer = await exchange(apiKey);
    if (!answer.valid) throw unauthenticated();
    // Reuse an exchanged token for half its life at most, so the backend always sees plenty of validity.
    const life = answer.expiresAt === null ? 0 : answer.expiresAt.getTime() - now();
    if (life > 0) {
      if (exchanged.size >= 10_000) exchanged.clear();
      exchanged.set(digest, { token: answer.accessToken, until: now() + life / 2 });
    }
    return { authorization: `Bearer ${answer.accessToken}` };
  };

  return async (authorization: string | undefined): Promise<AuthenticatedCaller> => {
    const credential = bearerToken(authorization);
    if (credential === null) throw unauthenticated();
    if (credential.startsWith(API_KEY_PREFIX)) {
      const caller = await verifyKey(credential);
      if (caller === null) throw unauthenticated();
      return {
        ...caller,
        kind: 'api_key',
        actor: `api_key:${caller.keyId}`,
        forward: forwardFor(credential),
      };
    }
    if (options.verifyAccessToken === undefined) throw unauthenticated();
    try {
      const p = await options.verifyAccessToken(credential);
      const forward = { authorization: `Bearer ${credential}` };
      return {
        keyId: p.keyId ?? p.subject,
        tenantId: p.tenantId,
        scopes: p.scopes,
        kind: 'access_token',
        actor:
          p.keyId !== null
            ? `api_key:${p.keyId}`
            : p.subject === p.clientId
              ? `client:${p.clientId}`
              : `user:${p.subject}`,
        forward: async () => forward,
      };
    } catch (err) {
      if (isAuthError(err, 'ERR_JWKS_UNAVAILABLE')) throw SERVICE_UNAVAILABLE();
      if (isAuthError(err)) throw unauthenticated();
      // The revocation check asks the token service; if it cannot answer, fail closed but say why.
      throw SERVICE_UNAVAILABLE();
    }
  };
}
