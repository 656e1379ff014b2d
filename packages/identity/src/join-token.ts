import { createHmac, hkdfSync, randomBytes, timingSafeEqual } from 'node:crypto';
import { parseSpiffeId } from '@zenmesh/pki';
import { IdentityError } from './errors.js';

/** What a verified join token says: which SPIFFE ID it admits, until when, under which one-time id. */
export interface JoinTokenClaims {
  spiffeId: string;
  expiresAt: Date;
  /** Unique per token; the CA records it when the token is used, so it is accepted once. */
  id: string;
  /**
   * A probe token (`zenmesh verify`, tests) gets a short-lived SVID that is not tracked as a workload: it never
   * holds up a rotation waiting for bundle confirmations and does not replace the workload's row in status.
   */
  probe: boolean;
}

const PREFIX = 'zmjt1';
export const DEFAULT_JOIN_TOKEN_TTL_SECONDS = 600;
// Join tokens are meant to be used within minutes of minting; a day is already generous.
const MAX_JOIN_TOKEN_TTL_SECONDS = 24 * 3600;

/** HKDF-SHA256 (RFC 5869) of the master key, for this purpose only. */
const tokenKey = (masterKey: Uint8Array) => {
  if (masterKey.length !== 32) throw new TypeError('join tokens: master key must be 32 bytes');
  return Buffer.from(hkdfSync('sha256', masterKey, Buffer.alloc(0), 'zenmesh/ca/join-token/v1', 32));
};

/**
 * Join tokens: the one-time credential of a workload's first SVID (DESIGN.md "Identity"). Minted by whoever
 * holds the master key (the launcher, an operator's tooling), verified by the CA, which alone records them as
 * spent. Both sides use this file, so it lives here rather than in either of them.
 *
 * Mints a one-time join token bound to one SPIFFE ID: `zmjt1.<claims>.<HMAC-SHA256>`. Whoever holds the master
 * key (the CA, the launcher that created the secrets directory) can mint; only the CA accepts, once. The token
 * is a bearer secret: hand it to exactly one workload, never log it.
 */
export function mintJoinToken(
  masterKey: Uint8Array,
  opts: { spiffeId: string; ttlSeconds?: number; now?: Date; probe?: boolean },
): { token: string; claims: JoinTokenClaims } {
  const parsed = parseSpiffeId(opts.spiffeId);
  if (parsed.path === '') throw new TypeError('join tokens are for workload IDs, not a bare trust domain');
  const ttl = opts.ttlSeconds ?? DEFAULT_JOIN_TOKEN_TTL_SECONDS;
  if (!Number.isSafeInteger(ttl) || ttl <= 0 || ttl > MAX_JOIN_TOKEN_TTL_SECONDS) {
    throw new TypeError(`join token ttlSeconds must be 1..${MAX_JOIN_TOKEN_TTL_SECONDS}`);
  }
  const now = opts.now ?? new Date();
  const claims: JoinTokenClaims = {
    spiffeId: opts.spiffeId,
    expiresAt: new Date(Math.floor(now.getTime() / 1000 + ttl) * 1000),
    id: randomBytes(16).toString('hex'),
    probe: opts.probe === true,
  };
  const body = Buffer.from(
    JSON.stringify({
      sub: claims.spiffeId,
      exp: claims.expiresAt.getTime() / 1000,
      jti: claims.id,
      ...(claims.probe ? { use: 'probe' } : {}),
    }),
  ).toString('base64url');
  const mac = createHmac('sha256', tokenKey(masterKey)).update(`${PREFIX}.${body}`).digest('base64url');
  return { token: `${PREFIX}.${body}.${mac}`, claims };
}

/**
 * Checks a token's MAC (constant time) and expiry. Single use is the caller's job (`claims.id`), because only
 * the CA's state knows which tokens were spent.
 */
export function verifyJoinToken(masterKey: Uint8Array, token: string, now = new Date()): JoinTokenClaims {
  const parts = typeof token === 'string' ? token.split('.') : [];
  const invalid = () =>
    new IdentityError(
      'ERR_JOIN_TOKEN_INVALID',
      'join_token_invalid',
      'join token is malformed or not signed by this CA',
    );
  if (parts.length !== 3 || parts[0] !== PREFIX) throw invalid();
  const [, body, mac] = parts as [string, string, string];
  const expected = createHmac('sha256', tokenKey(masterKey)).update(`${PREFIX}.${body}`).digest();
  const given = Buffer.from(mac, 'base64url');
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) throw invalid();
  let claims: { sub?: unknown; exp?: unknown; jti?: unknown; use?: unknown };
  try {
    claims = JSON.parse(Buffer.from(body, 'base64url').toString('utf8')) as typeof claims;
  } catch {
    throw invalid();
  }
  if (
    typeof claims.sub !== 'string' ||
    typeof claims.exp !== 'number' ||
    typeof claims.jti !== 'string' ||
    (claims.use !== undefined && claims.use !== 'probe')
  ) {
    throw invalid();
  }
  const expiresAt = new Date(claims.exp * 1000);
  if (now >= expiresAt) {
    throw new IdentityError(
      'ERR_JOIN_TOKEN_EXPIRED',
      'join_token_expired',
      `join token expired at ${expiresAt.toISOString()}`,
    );
  }
  return { spiffeId: claims.sub, expiresAt, id: claims.jti, probe: claims.use === 'probe' };
}
