import { openSecretBoxes } from '@zenmesh/crypto';

/** The one secret-box purpose of the token service (signing keys, TOTP secrets): its sealing-keys.json holds it. */
export const TOKEN_SEALING_PURPOSE = 'token-service';

import type { Db } from '@zenmesh/db';
import { createClientIpResolver } from '@zenmesh/http';
import type { Logger } from '@zenmesh/telemetry';
import type { Redis } from 'ioredis';
import { type AccessTokens, createAccessTokens } from './access-tokens.js';
import { type AccountAudit, createAccountAudit } from './account-audit.js';
import { createAuthorizeEndpoint } from './authorize-endpoint.js';
import { type ClientStore, createClientAuthenticator, createClientStore } from './clients.js';
import { createEnrollmentLinks, type EnrollmentLinks } from './enrollment-links.js';
import { TokenError } from './errors.js';
import { createGrants, type Grants } from './grants.js';
import type { HttpRouter } from './http-server.js';
import { createKnownDevices } from './known-devices.js';
import { type BackoffPolicy, createLoginBackoff, type LoginBackoff } from './login-backoff.js';
import { createOAuthEndpoints, PATHS } from './oauth-endpoints.js';
import { createRateLimiter } from './rate-limit.js';
import { createSessionStore, type SessionStore } from './sessions.js';
import { openSigningKeyRing, type SigningAlg, type SigningKeyRing } from './signing-keys.js';
import { createTotpEnrollmentPage } from './totp-enrollment-page.js';
import { createUserStore, type UserStore } from './users.js';

/** Upper bound from the issue and the Zentra seed: access tokens live at most 15 minutes. */
export const MAX_ACCESS_TOKEN_TTL_SEC = 15 * 60;

export interface OAuthConfig {
  /** Public base URL of this service, exactly as clients see it (the `iss` of every token). */
  issuer: string;
  /** `aud` of access tokens: the admin API / mesh resource server. Default `urn:zenmesh:api`. */
  audience?: string;
  /** Holds `master.key` and the signing-key file. */
  secretsDir: string;
  /** Default ES256. */
  signingAlg?: SigningAlg;
  /** Default 600; at most 900. */
  accessTokenTtlSec?: number;
  /** Tokens exchanged from an API key; default 120, at most accessTokenTtlSec. */
  exchangeTtlSec?: number;
  /** Default 14 days. */
  refreshTokenTtlSec?: number;
  /** Absolute lifetime of a login session (refresh family); default 30 days. */
  sessionMaxAgeSec?: number;
  /** Lost-response grace for a replayed refresh token, seconds; default 10, 0 disables (see README). */
  refreshGraceSec?: number;
  /** Authorization code lifetime; default 60 s. */
  codeTtlSec?: number;
  /**
   * Token, introspection and revocation requests per *authenticated* client per window, spent only once the
   * client has proved who it is (so a stranger naming a client's id cannot spend it); default 300 per 60 s.
   */
  rateLimit?: { points: number; durationSec: number };
  /** The same endpoints per client IP, taken before reading the request or authenticating; default 600 per 60 s. */
  ipRateLimit?: { points: number; durationSec: number };
  /** Login attempts per client IP per window; default 10 per 60 s. */
  loginRateLimit?: { points: number; durationSec: number };
  /** Shares every limit above across token-service replicas (REDIS_URL); each replica's own otherwise. */
  redis?: Redis | undefined;
  /** Prefix of the limiters' Redis keys; default `zenmesh:token:`. */
  redisPrefix?: string;
  /** Per-account backoff of failed logins and TOTP codes; default login-backoff.ts DEFAULT_BACKOFF. */
  loginBackoff?: BackoffPolicy;
  /** Lifetime of the one-time TOTP enrollment link an admin's reset issues; default 24 h. */
  enrollmentLinkTtlSec?: number;
  /** Peers whose X-Forwarded-For is believed (reverse proxies). Default none. */
  trustedProxies?: readonly string[];
  now?: () => Date;
}

export interface OAuthServer {
  router: HttpRouter;
  issuer: string;
  audience: string;
  exchangeTtlSec: number;
  keys: SigningKeyRing;
  tokens: AccessTokens;
  sessions: SessionStore;
  grants: Grants;
  users: UserStore;
  clients: ClientStore;
  links: EnrollmentLinks;
  accountAudit: AccountAudit;
  backoff: LoginBackoff;
  metadata: Record<string, unknown>;
}

const LOOPBACK_HOSTS = new Set(['127.0.0.1', '[::1]', 'localhost']);

export const DEFAULT_AUDIENCE = 'urn:zenmesh:api';

/** Builds the OAuth 2.0 / OIDC authorization server over an open, migrated token database. */
export async function createOAuthServer(db: Db, logger: Logger, config: OAuthConfig): Promise<OAuthServer> {
  const issuer = config.issuer.replace(/\/+$/, '');
  if (!/^https?:\/\/[^/?#]+(\/[^?#]*)?$/.test(issuer)) {
    throw new TokenError(
      'ERR_CONFIG',
      'ZENMESH_TOKEN_ISSUER: expected an http(s) URL without query or fragment',
    );
  }
  // The login and enrollment pages set __Host- (Secure) cookies, which browsers accept over plain http only
  // from a loopback origin: anywhere else an http issuer would leak credentials and break every login.
  const issuerUrl = new URL(issuer);
  if (issuerUrl.protocol === 'http:' && !LOOPBACK_HOSTS.has(issuerUrl.hostname)) {
    throw new TokenError(
      'ERR_CONFIG',
      `ZENMESH_TOKEN_ISSUER: plain http is only for a loopback host (127.0.0.1, [::1], localhost); use https for ${issuerUrl.host}`,
    );
  }
  const accessTokenTtlSec = config.accessTokenTtlSec ?? 600;
  if (
    !Number.isInteger(accessTokenTtlSec) ||
    accessTokenTtlSec < 30 ||
    accessTokenTtlSec > MAX_ACCESS_TOKEN_TTL_SEC
  ) {
    throw new TokenError(
      'ERR_CONFIG',
      `access token lifetime must be 30-${MAX_ACCESS_TOKEN_TTL_SEC} seconds`,
    );
  }
  const now = config.now ?? (() => new Date());
  const audience = config.audience ?? DEFAULT_AUDIENCE;
  // Its own sealing key (sealing-keys.json), or the master key where a deployment still gives one.
  const box = openSecretBoxes(config.secretsDir)(TOKEN_SEALING_PURPOSE);
  const keys = await openSigningKeyRing({
    secretsDir: config.secretsDir,
    box,
    alg: config.signingAlg ?? 'ES256',
    // The longest-lived thing a key signs is an access or ID token; add a minute of clock skew.
    retiredKeyTtlMs: (accessTokenTtlSec + 60) * 1000,
    now,
  });
  const tokens = createAccessTokens({ db, keys, issuer, audience, accessTokenTtlSec, now });
  const sessions = createSessionStore({
    db,
    logger,
    refreshTokenTtlSec: config.refreshTokenTtlSec ?? 14 * 86_400,
    sessionMaxAgeSec: config.sessionMaxAgeSec ?? 30 * 86_400,
    graceSec: config.refreshGraceSec ?? 10,
    now,
  });
  const grants = createGrants({ db, tokens, sessions, codeTtlSec: config.codeTtlSec ?? 60, now });
  const users = createUserStore({ db, box, now });
  const clients = createClientStore(db);
  const ip = createClientIpResolver(config.trustedProxies ?? []);
  const backoff = createLoginBackoff({
    db,
    now,
    ...(config.loginBackoff ? { policy: config.loginBackoff } : {}),
  });
  const devices = createKnownDevices({ db, now });
  const accountAudit = createAccountAudit({ db, now });
  const links = createEnrollmentLinks({ db, issuer, ttlSec: config.enrollmentLinkTtlSec ?? 86_400, now });
  // One rate limiter (@zenmesh/shared-state), shared through Redis when configured; a namespace per budget.
  const limiter = (name: string, budget: { points: number; durationSec: number }) =>
    createRateLimiter({
      ...budget,
      redis: config.redis,
      prefix: `${config.redisPrefix ?? 'zenmesh:token:'}${name}:`,
      onError: (err) =>
        logger.warn({ err, limiter: name }, 'rate-limit store failed; this replica uses its own'),
    });
  const loginLimiter = limiter('login', config.loginRateLimit ?? { points: 10, durationSec: 60 });
  const authorize = createAuthorizeEndpoint({
    issuer,
    getClient: (id) => clients.get(id),
    users,
    grants,
    sessions,
    limiter: loginLimiter,
    backoff,
    devices,
    ip,
    now,
  });
  const enrollment = createTotpEnrollmentPage({
    users,
    links,
    audit: accountAudit,
    backoff,
    devices,
    sessions,
    limiter: loginLimiter,
    ip,
  });
  const endpoints = createOAuthEndpoints({
    issuer,
    logger,
    keys,
    tokens,
    grants,
    sessions,
    users,
    authenticateClient: createClientAuthenticator({
      clients,
      db,
      assertionAudiences: [issuer, `${issuer}${PATHS.token}`],
      now,
    }),
    authorize,
    enrollment,
    limiters: {
      ip: limiter('oauth-ip', config.ipRateLimit ?? { points: 600, durationSec: 60 }),
      client: limiter('oauth-client', config.rateLimit ?? { points: 300, durationSec: 60 }),
    },
    ip,
  });
  return {
    router: endpoints.route,
    issuer,
    audience,
    exchangeTtlSec: Math.min(config.exchangeTtlSec ?? 120, accessTokenTtlSec),
    keys,
    tokens,
    sessions,
    grants,
    users,
    clients,
    links,
    accountAudit,
    backoff,
    metadata: endpoints.metadata,
  };
}
