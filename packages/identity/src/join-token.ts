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
  /**
   * Probe tokens only: a shorter lifetime for the probe SVID (the CA still caps it), so `zenmesh verify` can
   * watch a certificate expire on an open connection within seconds.
   */
  svidTtlSeconds?: number;
}

const PREFIX = 'zmjt1';
export const DEFAULT_JOIN_TOKEN_TTL_SECONDS = 600;
// Join tokens are meant to be used within minutes of minting; a day is already generous.
const MAX_JOIN_TOKEN_TTL_SECONDS = 24 * 3600;
const MAX_PROBE_SVID_TTL_SECONDS = 3600;
const validSvidTtl = (t: unknown): t is number =>
  Number.isSafeInteger(t) && (t as number) > 0 && (t as number) <= MAX_PROBE_SVID_TTL_SECONDS;

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
  opts: { spiffeId: string; ttlSeconds?: number; now?: Date; probe?: boolean; svidTtlSeconds?: number },
): { token: string; claims: JoinTokenClaims } {
  const parsed = parseSpiffeId(opts.spiffeId);
  if (parsed.path === '') throw new TypeError('join tokens are for workload IDs, not a bare trust domain');
  const ttl = opts.ttlSeconds ?? DEFAULT_JOIN_TOKEN_TTL_SECONDS;
  if (!Number.isSafeInteger(ttl) || ttl <= 0 || ttl > MAX_JOIN_TOKEN_TTL_SECONDS) {
    throw new TypeError(`join token ttlSeconds must be 1..${MAX_JOIN_TOKEN_TTL_SECONDS}`);
  }
  if (opts.svidTtlSeconds !== undefined && (opts.probe !== true || !validSvidTtl(opts.svidTtlSeconds))) {
    throw new TypeError(`svidTtlSeconds is for probe tokens only, 1..${MAX_PROBE_SVID_TTL_SECONDS}`);
  }
  const now = opts.now ?? new Date();
  const claims: JoinTokenClaims = {
    spiffeId: opts.spiffeId,
    expiresAt: new Date(Math.floor(now.getTime() / 1000 + ttl) * 1000),
    id: randomBytes(16).toString('hex'),
    probe: opts.probe === true,
    ...(opts.svidTtlSeconds === undefined ? {} : { svidTtlSeconds: opts.svidTtlSeconds }),
  };
  const body = Buffer.from(
    JSON.stringify({
      sub: claims.spiffeId,
      exp: claims.expiresAt.getTime() / 1000,
      jti: claims.id,
      ...(claims.probe ? { use: 'probe' } : {}),
      ...(claims.svidTtlSeconds === undefined ? {} : { ttl: claims.svidTtlSeconds }),
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
  // Node's base64url decoder ignores stray characters and padding bits, so several spellings decode to the
  // same MAC; only the canonical one is the token that was minted.
  if (given.toString('base64url') !== mac) throw invalid();
  let claims: { sub?: unknown; exp?: unknown; jti?: unknown; use?: unknown; ttl?: unknown };
  try {
    claims = JSON.parse(Buffer.from(body, 'base64url').toString('utf8')) as typeof claims;
  } catch {
    throw invalid();
  }
  if (
    typeof claims.sub !== 'string' ||
    !Number.isSafeInteger(claims.exp) ||
    typeof claims.jti !== 'string' ||
    (claims.use !== undefined && claims.use !== 'probe') ||
    (claims.ttl !== undefined && (claims.use !== 'probe' || !validSvidTtl(claims.ttl)))
  ) {
    throw invalid();
  }
  const expiresAt = new Date((claims.exp as number) * 1000);
  if (now >= expiresAt) {
    throw new IdentityError(
      'ERR_JOIN_TOKEN_EXPIRED',
      'join_token_expired',
      `join token expired at ${expiresAt.toISOString()}`,
    );
  }
  return {
    spiffeId: claims.sub,
    expiresAt,
    id: claims.jti,
    probe: claims.use === 'probe',
    ...(typeof claims.ttl === 'number' ? { svidTtlSeconds: claims.ttl } : {}),
  };
}
