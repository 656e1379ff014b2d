import { randomUUID } from 'node:crypto';
import {
  ACCESS_TOKEN_TYP,
  type AccessTokenClaims,
  createAccessTokenVerifier,
  type Principal,
} from '@zenmesh/auth';
import type { Queryable } from '@zenmesh/db';
import { createLocalJWKSet, SignJWT } from 'jose';
import type { SigningKeyRing } from './signing-keys.js';

export interface MintInput {
  sub: string;
  clientId: string;
  scopes: readonly string[];
  tenantId?: string | null | undefined;
  sessionId?: string | undefined;
  keyId?: string | undefined;
  /** Seconds; capped at the configured access-token lifetime. */
  ttlSec?: number;
}

export interface MintedToken {
  token: string;
  jti: string;
  expiresIn: number;
  expiresAt: Date;
}

export interface AccessTokens {
  mint(input: MintInput): Promise<MintedToken>;
  /** An OIDC ID token (OIDC Core §2) for the authorization_code grant. */
  mintIdToken(input: {
    sub: string;
    clientId: string;
    nonce?: string | null;
    authTime: Date;
    sessionId: string;
    amr: readonly string[];
    extra?: Record<string, unknown>;
  }): Promise<string>;
  /** Signature, typ, iss, aud, exp — and the revocation records (jti, session family, API key). */
  verify(token: string): Promise<Principal>;
  /** True when the jti, its session (refresh family) or the API key it came from has been revoked. */
  isRevoked(claims: AccessTokenClaims): Promise<boolean>;
  revokeJti(jti: string, expiresAt: Date): Promise<void>;
}

export interface AccessTokenOptions {
  db: Queryable;
  keys: SigningKeyRing;
  issuer: string;
  audience: string;
  /** RFC 9068 tokens here live at most 15 minutes. */
  accessTokenTtlSec: number;
  now: () => Date;
}

export function createAccessTokens(options: AccessTokenOptions): AccessTokens {
  const { db, keys, issuer, audience, now } = options;

  const isRevoked = async (claims: AccessTokenClaims): Promise<boolean> => {
    const { rows } = await db.query<{ revoked: boolean }>(
      `SELECT EXISTS (SELECT 1 FROM token.revoked_tokens WHERE jti = $1)
           OR EXISTS (SELECT 1 FROM token.sessions WHERE id = $2 AND (revoked_at IS NOT NULL OR expires_at <= $4))
           OR EXISTS (SELECT 1 FROM token.api_keys WHERE id = $3
                        AND ((revoked_at IS NOT NULL AND revoked_at <= $4) OR expires_at <= $4)) AS revoked`,
      [claims.jti, claims.sid ?? null, claims.key_id ?? null, now()],
    );
    return rows[0]?.revoked ?? true;
  };

  const verifier = createAccessTokenVerifier({
    issuer,
    audience,
    // The service verifies its own tokens against its own ring: no HTTP round trip to itself.
    keys: (header, token) => createLocalJWKSet(keys.jwks())(header, token),
    isRevoked,
    now,
  });

  return {
    async mint(input) {
      const { kid, alg, privateKey } = keys.current();
      const ttl = Math.min(input.ttlSec ?? options.accessTokenTtlSec, options.accessTokenTtlSec);
      const iat = Math.floor(now().getTime() / 1000);
      const jti = randomUUID();
      const claims: Record<string, unknown> = { client_id: input.clientId, scope: input.scopes.join(' ') };
      if (input.tenantId) claims.tenant_id = input.tenantId;
      if (input.sessionId !== undefined) claims.sid = input.sessionId;
      if (input.keyId !== undefined) claims.key_id = input.keyId;
      // RFC 9068 §2.1 header typ, §2.2 claims.
      const token = await new SignJWT(claims)
        .setProtectedHeader({ alg, kid, typ: ACCESS_TOKEN_TYP })
        .setIssuer(issuer)
        .setSubject(input.sub)
        .setAudience(audience)
        .setIssuedAt(iat)
        .setExpirationTime(iat + ttl)
        .setJti(jti)
        .sign(privateKey);
      return { token, jti, expiresIn: ttl, expiresAt: new Date((iat + ttl) * 1000) };
    },
    async mintIdToken(input) {
      const { kid, alg, privateKey } = keys.current();
      const iat = Math.floor(now().getTime() / 1000);
      return new SignJWT({
        ...(input.extra ?? {}),
        ...(input.nonce ? { nonce: input.nonce } : {}),
        auth_time: Math.floor(input.authTime.getTime() / 1000),
        sid: input.sessionId,
        amr: [...input.amr],
      })
        .setProtectedHeader({ alg, kid, typ: 'JWT' })
        .setIssuer(issuer)
        .setSubject(input.sub)
        .setAudience(input.clientId)
        .setIssuedAt(iat)
        .setExpirationTime(iat + options.accessTokenTtlSec)
        .sign(privateKey);
    },
    verify: verifier,
    isRevoked,
    async revokeJti(jti, expiresAt) {
      await db.query(
        `INSERT INTO token.revoked_tokens (jti, expires_at, revoked_at) VALUES ($1, $2, $3)
         ON CONFLICT (jti) DO NOTHING`,
        [jti, expiresAt, now()],
      );
    },
  };
}
