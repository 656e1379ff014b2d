import type { IncomingMessage, ServerResponse } from 'node:http';
import { createRateLimiter, type RateLimiter } from '@zenmesh/shared-state';
import type { Logger } from '@zenmesh/telemetry';
import type { Redis } from 'ioredis';
import type { AuthenticatedCaller } from '../caller-auth.js';
import { createConsoleApp } from './console-app.js';
import { ConsoleError } from './console-error.js';
import { type ConsoleClient, type ConsoleOAuth, createConsoleOAuth } from './oidc-login.js';
import {
  createMemorySessionStore,
  createRedisSessionStore,
  type SessionStore,
  type SessionTimeouts,
} from './session-store.js';

export { fileClient, staticClient } from './client-source.js';
export { ConsoleError, type ConsoleErrorCode } from './console-error.js';
export type { ConsoleClient } from './oidc-login.js';
export type { ConsoleSession, SessionStore, SessionTimeouts } from './session-store.js';
export { createMemorySessionStore, createRedisSessionStore } from './session-store.js';

/** What createBffApp needs to serve the console. */
export interface ConsoleSetup {
  /** Sign-in, refresh and revocation; its client's redirect URI names the console's public origin. */
  oauth: ConsoleOAuth;
  sessions: SessionStore;
  /** Sign-in starts per client IP; default 20 at once, refilled at 1 per 3 s, in-process. */
  loginLimiter?: RateLimiter;
  /** Jaeger's UI base URL (JAEGER_UI_URL): the event page links an event's trace there. */
  jaegerUiUrl?: string | undefined;
}

/** Every API scope: the token service grants the subset the user's role allows. */
export const CONSOLE_SCOPE =
  'openid offline_access events:read events:write sources:read sources:write endpoints:read endpoints:write replay:write keys:admin admin';

export interface ConsoleSettings {
  issuer: string;
  /** The registration: `staticClient({...})` or `fileClient(path)`. */
  client: () => Promise<ConsoleClient>;
  timeouts: SessionTimeouts;
  /** Sessions shared through Redis when given; in-process otherwise (one bff instance). */
  redis?: Redis | undefined;
  redisPrefix?: string;
  jaegerUiUrl?: string | undefined;
}

/**
 * Builds the console's OAuth client and session store. A plain-http issuer or redirect URI off loopback is
 * refused (the issuer here, the redirect URI at each sign-in: it may come from a file written later).
 */
export function createConsoleSetup(s: ConsoleSettings): ConsoleSetup {
  if (s.timeouts.idleMs > s.timeouts.absoluteMs) {
    throw new ConsoleError('ERR_CONSOLE_CONFIG', 'the idle timeout must not exceed the absolute timeout');
  }
  return {
    oauth: createConsoleOAuth({ issuer: s.issuer, client: s.client, scope: CONSOLE_SCOPE }),
    sessions:
      s.redis === undefined
        ? createMemorySessionStore(s.timeouts)
        : createRedisSessionStore(s.redis, s.timeouts, { prefix: s.redisPrefix ?? 'zenmesh:console:' }),
    jaegerUiUrl: s.jaegerUiUrl,
  };
}

export interface ConsoleHooks {
  logger: Logger;
  clientIp(req: IncomingMessage): string;
  authenticate(accessToken: string): Promise<AuthenticatedCaller>;
  dispatch(req: IncomingMessage, res: ServerResponse, url: URL, caller: AuthenticatedCaller): Promise<void>;
}

/** The /console request handler for createBffApp, or undefined when the console is not configured. */
export function mountConsole(setup: ConsoleSetup | undefined, hooks: ConsoleHooks) {
  if (setup === undefined) return undefined;
  return createConsoleApp({
    ...hooks,
    oauth: setup.oauth,
    sessions: setup.sessions,
    loginLimiter: setup.loginLimiter ?? createRateLimiter({ perSecond: 1 / 3, burst: 20 }),
    jaegerUiUrl: setup.jaegerUiUrl,
    logger: hooks.logger.child({ component: 'console' }),
  });
}
