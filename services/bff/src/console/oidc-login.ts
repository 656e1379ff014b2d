import * as oidc from 'openid-client';
import { ConsoleError } from './console-error.js';
import type { PendingLogin } from './session-store.js';

/** The console's registration at the token service (client_secret_basic). */
export interface ConsoleClient {
  clientId: string;
  clientSecret: string;
  /** The redirect URI registered for the client: `<console public origin>/console/callback`. */
  redirectUri: string;
}

/** The console as a confidential OAuth client of the token service (authorization code + PKCE S256). */
export interface ConsoleOAuthOptions {
  /** The token service's issuer URL (its discovery document lives under it). */
  issuer: string;
  /** The registration; asked on every sign-in step (a file source re-reads it when it changes). */
  client: () => Promise<ConsoleClient>;
  /** Scopes asked for; the token service cuts them down to the user's role. */
  scope: string;
}

export interface TokenSet {
  accessToken: string;
  /** Epoch ms. */
  accessExpiresAt: number;
  refreshToken: string | null;
  username: string | null;
}

export interface ConsoleOAuth {
  /** The console's public origin: that of the registered redirect URI. */
  origin(): Promise<string>;
  /** A fresh state, PKCE verifier and nonce, and the authorization URL carrying them. */
  begin(returnTo: string): Promise<{ pending: PendingLogin; url: string }>;
  /** Redeems the callback's code: checks iss, state, PKCE and the ID token's nonce (openid-client). */
  finish(callbackUrl: URL, pending: PendingLogin): Promise<TokenSet>;
  refresh(refreshToken: string): Promise<TokenSet>;
  /** Revokes a refresh token (the token service then revokes its whole family, access tokens included). */
  revoke(refreshToken: string): Promise<void>;
}

const LOOPBACK = new Set(['127.0.0.1', '[::1]', 'localhost']);

/** Plain http is accepted for loopback hosts only (development); anything else must be https. */
export function requireSecureUrl(what: string, value: string): URL {
  const url = new URL(value);
  if (url.protocol === 'https:') return url;
  if (url.protocol === 'http:' && LOOPBACK.has(url.hostname)) return url;
  throw new ConsoleError('ERR_CONSOLE_CONFIG', `${what}: must be https (plain http only on loopback)`);
}

const tokenSet = (
  r: oidc.TokenEndpointResponse & oidc.TokenEndpointResponseHelpers,
  now: number,
): TokenSet => {
  const claims = r.claims();
  const name = claims?.preferred_username;
  return {
    accessToken: r.access_token,
    accessExpiresAt: now + (r.expires_in ?? 60) * 1000,
    refreshToken: r.refresh_token ?? null,
    username: typeof name === 'string' ? name : null,
  };
};

export function createConsoleOAuth(options: ConsoleOAuthOptions): ConsoleOAuth {
  const issuer = requireSecureUrl('ZENMESH_TOKEN_ISSUER', options.issuer);
  let cached: { key: string; config: Promise<oidc.Configuration> } | undefined;
  // Discovered on first use (the token service may start after the bff), again after a failure and when the
  // registration changes.
  const configuration = async (): Promise<{ config: oidc.Configuration; client: ConsoleClient }> => {
    const client = await options.client();
    requireSecureUrl('the console redirect URI', client.redirectUri);
    const key = `${client.clientId}\n${client.clientSecret}`;
    if (cached?.key !== key) {
      const config = oidc
        .discovery(
          issuer,
          client.clientId,
          undefined,
          oidc.ClientSecretBasic(client.clientSecret),
          issuer.protocol === 'http:' ? { execute: [oidc.allowInsecureRequests] } : undefined,
        )
        .catch((err: unknown) => {
          cached = undefined;
          throw new ConsoleError('ERR_CONSOLE_UPSTREAM', 'token service discovery failed', { cause: err });
        });
      cached = { key, config };
    }
    return { config: await cached.config, client };
  };
  const upstream = (what: string) => (err: unknown) => {
    throw new ConsoleError('ERR_CONSOLE_UPSTREAM', `${what} failed`, { cause: err });
  };

  return {
    async origin() {
      const client = await options.client();
      return requireSecureUrl('the console redirect URI', client.redirectUri).origin;
    },
    async begin(returnTo) {
      const { config: c, client } = await configuration();
      const pending: PendingLogin = {
        state: oidc.randomState(),
        nonce: oidc.randomNonce(),
        codeVerifier: oidc.randomPKCECodeVerifier(),
        returnTo,
      };
      const url = oidc.buildAuthorizationUrl(c, {
        redirect_uri: client.redirectUri,
        scope: options.scope,
        state: pending.state,
        nonce: pending.nonce,
        code_challenge: await oidc.calculatePKCECodeChallenge(pending.codeVerifier),
        code_challenge_method: 'S256',
      });
      return { pending, url: url.href };
    },
    async finish(callbackUrl, pending) {
      const { config: c, client } = await configuration();
      const r = await oidc
        .authorizationCodeGrant(
          c,
          callbackUrl,
          {
            pkceCodeVerifier: pending.codeVerifier,
            expectedState: pending.state,
            expectedNonce: pending.nonce,
            idTokenExpected: true,
          },
          { redirect_uri: client.redirectUri },
        )
        .catch(upstream('authorization code exchange'));
      const tokens = tokenSet(r, Date.now());
      const sub = r.claims()?.sub;
      if (tokens.username === null && sub !== undefined) {
        // The ID token names the subject only; the display name comes from UserInfo (same subject enforced).
        const info = await oidc.fetchUserInfo(c, r.access_token, sub).catch(upstream('userinfo'));
        const name = info.preferred_username;
        if (typeof name === 'string') tokens.username = name;
      }
      return tokens;
    },
    async refresh(refreshToken) {
      const { config: c } = await configuration();
      const r = await oidc.refreshTokenGrant(c, refreshToken).catch(upstream('refresh'));
      return tokenSet(r, Date.now());
    },
    async revoke(refreshToken) {
      const { config: c } = await configuration();
      await oidc
        .tokenRevocation(c, refreshToken, { token_type_hint: 'refresh_token' })
        .catch(upstream('revocation'));
    },
  };
}
