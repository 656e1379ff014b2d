import { createSecretBox, loadMasterKey } from '@zenmesh/crypto';
import type { Db } from '@zenmesh/db';
import { createClientIpResolver } from '@zenmesh/http';
import type { Logger } from '@zenmesh/telemetry';
import { type AccessTokens, createAccessTokens } from './access-tokens.js';
import { createAuthorizeEndpoint } from './authorize-endpoint.js';
import { type ClientStore, createClientAuthenticator, createClientStore } from './clients.js';
import { TokenError } from './errors.js';
import { createGrants, type Grants } from './grants.js';
import type { HttpRouter } from './http-server.js';
import { createOAuthEndpoints, PATHS } from './oauth-endpoints.js';
import { createRateLimiter } from './rate-limit.js';
import { createSessionStore, type SessionStore } from './sessions.js';
import { openSigningKeyRing, type SigningAlg, type SigningKeyRing } from './signing-keys.js';
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
  /** Token, introspection and revocation requests per client id (or IP) per window; default 300 per 60 s. */
  rateLimit?: { points: number; durationSec: number };
  /** Login attempts per client IP per window; default 10 per 60 s. */
  loginRateLimit?: { points: number; durationSec: number };
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
  metadata: Record<string, unknown>;
}

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
  const box = createSecretBox(loadMasterKey(config.secretsDir), 'token-service');
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
  const authorize = createAuthorizeEndpoint({
    issuer,
    getClient: (id) => clients.get(id),
    users,
    grants,
    sessions,
    limiter: createRateLimiter(config.loginRateLimit ?? { points: 10, durationSec: 60 }),
    ip,
    now,
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
    limiter: createRateLimiter(config.rateLimit ?? { points: 300, durationSec: 60 }),
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
    metadata: endpoints.metadata,
  };
}
