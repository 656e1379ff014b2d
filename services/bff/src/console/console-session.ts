import type { IncomingMessage } from 'node:http';
import type { Logger } from '@zenmesh/telemetry';
import type { ConsoleOAuth } from './oidc-login.js';
import type { ConsoleSession, SessionStore } from './session-store.js';
import { parseCookies, SESSION_COOKIE } from './web-security.js';

/** Access tokens this close to expiry are refreshed before use. */
const REFRESH_MARGIN_MS = 60_000;
/**
 * How long a finished refresh answers for its session: a request that read the session just before the
 * refresh was stored gets the refreshed one instead of presenting the already used refresh token.
 */
const REFRESH_MEMO_MS = 10_000;

export interface LiveSession {
  id: string;
  session: ConsoleSession;
}

/**
 * Finds the request's session (idle and absolute timeouts applied by the store) and keeps its access token
 * fresh with the refresh token. One refresh per session in this process, and its answer reused for a few
 * seconds: refresh tokens are single use, and a second use would look like theft to the token service.
 * (Several bff instances share sessions through Redis but not this memo; the token service's refresh grace
 * window covers two instances refreshing one session at the same moment.)
 */
export function createSessionLoader(sessions: SessionStore, oauth: ConsoleOAuth, logger: Logger) {
  const refreshing = new Map<string, Promise<ConsoleSession | null>>();

  const refresh = async (id: string, s: ConsoleSession): Promise<ConsoleSession | null> => {
    if (s.refreshToken === null) return null;
    try {
      const t = await oauth.refresh(s.refreshToken);
      const next: ConsoleSession = {
        ...s,
        accessToken: t.accessToken,
        accessExpiresAt: t.accessExpiresAt,
        refreshToken: t.refreshToken ?? s.refreshToken,
      };
      await sessions.update(id, next);
      return next;
    } catch (err) {
      logger.warn({ err }, 'console session refresh failed; signing out');
      await sessions.destroy(id);
      return null;
    }
  };

  return async function load(req: IncomingMessage): Promise<LiveSession | null> {
    const id = parseCookies(req.headers.cookie).get(SESSION_COOKIE);
    if (id === undefined || id.length < 40 || id.length > 64) return null;
    const s = await sessions.touch(id);
    if (s === null) return null;
    if (s.accessExpiresAt - Date.now() > REFRESH_MARGIN_MS) return { id, session: s };
    let inFlight = refreshing.get(id);
    if (inFlight === undefined) {
      const started = refresh(id, s);
      inFlight = started;
      refreshing.set(id, started);
      void started.finally(() => {
        setTimeout(() => {
          if (refreshing.get(id) === started) refreshing.delete(id);
        }, REFRESH_MEMO_MS).unref();
      });
    }
    const next = await inFlight;
    return next === null ? null : { id, session: next };
  };
}
