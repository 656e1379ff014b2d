import { createRemoteJWKSet, errors, type JWTPayload, type JWTVerifyGetKey, jwtVerify } from 'jose';
import { AuthError } from './errors.js';
import { parseScope } from './scopes.js';

/** The asymmetric algorithms an access token may use. HS* and `none` can never be configured. */
export const ACCESS_TOKEN_ALGORITHMS = ['ES256', 'EdDSA', 'RS256'] as const;
export type AccessTokenAlgorithm = (typeof ACCESS_TOKEN_ALGORITHMS)[number];

/** RFC 9068 §2.1: the media type of a JWT access token, in the JOSE `typ` header. */
export const ACCESS_TOKEN_TYP = 'at+jwt';

/** The claims of a Zen Mesh access token (RFC 9068 §2.2 plus our private ones). */
export interface AccessTokenClaims extends JWTPayload {
  iss: string;
  sub: string;
  exp: number;
  iat: number;
  jti: string;
  client_id: string;
  scope?: string;
  /** Session (refresh family) the token was issued under; revoking it revokes the token. */
  sid?: string;
  /** The tenant the token acts for; absent for a cluster-wide principal. */
  tenant_id?: string;
  /** The API key a token was exchanged from; revoking the key revokes the token. */
  key_id?: string;
}

/** Who a verified token speaks for. */
export interface Principal {
  subject: string;
  clientId: string;
  scopes: string[];
  /** null for a cluster-wide principal. */
  tenantId: string | null;
  keyId: string | null;
  sessionId: string | null;
  jti: string;
  expiresAt: Date;
  claims: AccessTokenClaims;
}

/** Answers true when a token that verified cryptographically has nevertheless been revoked. */
export type RevocationCheck = (claims: AccessTokenClaims, token: string) => Promise<boolean>;

export interface AccessTokenVerifierOptions {
  /** Exact `iss` (the token service's public base URL). */
  issuer: string;
  /** Exact `aud` this resource server accepts. */
  audience: string;
  /** Where to fetch keys; default `<issuer>/.well-known/jwks.json`. Ignored when `keys` is given. */
  jwksUri?: string;
  /** A key resolver (e.g. `createLocalJWKSet`), mostly for tests and the token service itself. */
  keys?: JWTVerifyGetKey;
  /** Subset of ES256, EdDSA, RS256; default all three. */
  algorithms?: readonly AccessTokenAlgorithm[];
  /** Seconds of clock skew tolerated on exp/iat; default 5, at most 60. */
  clockToleranceSec?: number;
  /** Consulted after a token verifies; a revoked token is refused with ERR_TOKEN_REVOKED. */
  isRevoked?: RevocationCheck;
  now?: () => Date;
}

export type AccessTokenVerifier = (token: string) => Promise<Principal>;

const FORBIDDEN_ALG = /^(none|HS\d+)$/i;

function checkAlgorithms(algs: readonly string[]): string[] {
  if (algs.length === 0) throw new TypeError('createAccessTokenVerifier: algorithms must not be empty');
  for (const alg of algs) {
    // A public key used as an HMAC secret is the classic algorithm-confusion forgery; `none` is no signature.
    if (FORBIDDEN_ALG.test(alg) || !(ACCESS_TOKEN_ALGORITHMS as readonly string[]).includes(alg)) {
      throw new TypeError(`createAccessTokenVerifier: algorithm ${JSON.stringify(alg)} is not allowed`);
    }
  }
  return [...algs];
}

/**
 * Verifies RFC 9068 access tokens: signature by a key from the issuer's JWKS (cached; an unknown `kid`
 * triggers a refetch, at most every 10 s), algorithm from a pinned asymmetric list, `typ: at+jwt`, exact
 * issuer and audience, exp/iat with bounded skew, and the claims RFC 9068 §2.2 makes mandatory. Every
 * refusal is an AuthError; nothing about the token is logged.
 */
export function createAccessTokenVerifier(options: AccessTokenVerifierOptions): AccessTokenVerifier {
  if (!/^https?:\/\//.test(options.issuer))
    throw new TypeError('createAccessTokenVerifier: issuer must be a URL');
  if (options.audience.length === 0) throw new TypeError('createAccessTokenVerifier: audience is required');
  const algorithms = checkAlgorithms(options.algorithms ?? ACCESS_TOKEN_ALGORITHMS);
  const clockTolerance = Math.min(Math.max(options.clockToleranceSec ?? 5, 0), 60);
  const keys =
    options.keys ??
    createRemoteJWKSet(
      new URL(options.jwksUri ?? `${options.issuer.replace(/\/+$/, '')}/.well-known/jwks.json`),
      {
        cacheMaxAge: 10 * 60_000,
        cooldownDuration: 10_000,
        timeoutDuration: 5_000,
      },
    );
  const now = options.now;

  return async (token) => {
    if (typeof token !== 'string' || token.length === 0 || token.length > 8192) {
      throw new AuthError('ERR_TOKEN_INVALID', 'malformed access token');
    }
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, keys, {
        issuer: options.issuer,
        audience: options.audience,
        algorithms,
        typ: ACCESS_TOKEN_TYP,
        clockTolerance,
        requiredClaims: ['iss', 'sub', 'aud', 'exp', 'iat', 'jti', 'client_id'],
        ...(now === undefined ? {} : { currentDate: now() }),
      }));
    } catch (err) {
      throw toAuthError(err);
    }
    const claims = payload as AccessTokenClaims;
    if (
      typeof claims.client_id !== 'string' ||
      typeof claims.jti !== 'string' ||
      typeof claims.sub !== 'string'
    ) {
      throw new AuthError('ERR_TOKEN_INVALID', 'access token claims have the wrong types');
    }
    if (options.isRevoked !== undefined && (await options.isRevoked(claims, token))) {
      throw new AuthError('ERR_TOKEN_REVOKED', 'access token has been revoked');
    }
    return {
      subject: claims.sub,
      clientId: claims.client_id,
      scopes: parseScope(typeof claims.scope === 'string' ? claims.scope : ''),
      tenantId: typeof claims.tenant_id === 'string' && claims.tenant_id !== '' ? claims.tenant_id : null,
      keyId: typeof claims.key_id === 'string' ? claims.key_id : null,
      sessionId: typeof claims.sid === 'string' ? claims.sid : null,
      jti: claims.jti,
      expiresAt: new Date(claims.exp * 1000),
      claims,
    };
  };
}

function toAuthError(err: unknown): AuthError {
  if (err instanceof errors.JWTExpired)
    return new AuthError('ERR_TOKEN_EXPIRED', 'access token expired', { cause: err });
  if (
    err instanceof errors.JWKSTimeout ||
    (err instanceof errors.JOSEError && err.code === 'ERR_JOSE_GENERIC')
  ) {
    return new AuthError('ERR_JWKS_UNAVAILABLE', 'cannot fetch the issuer key set', { cause: err });
  }
  if (err instanceof errors.JOSEError) {
    return new AuthError('ERR_TOKEN_INVALID', `access token refused: ${err.code}`, { cause: err });
  }
  // A network failure while fetching the JWKS surfaces as a plain TypeError from fetch.
  return new AuthError('ERR_JWKS_UNAVAILABLE', 'cannot fetch the issuer key set', { cause: err });
}
