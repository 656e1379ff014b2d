import type { IncomingMessage, ServerResponse } from 'node:http';
import { isZenMeshError } from '@zenmesh/errors';
import { sendJson } from '@zenmesh/http';
import type { RateLimiter } from '@zenmesh/shared-state';
import type { Logger } from '@zenmesh/telemetry';
import { renderSVG } from 'uqr';
import type { AuthenticatedCaller } from '../caller-auth.js';
import { readJsonBody } from '../json-body.js';
import { loadConsoleAssets, sendAsset } from './assets.js';
import { createSessionLoader, type LiveSession } from './console-session.js';
import type { ConsoleOAuth } from './oidc-login.js';
import { renderContinue, renderMessage, renderShell } from './pages.js';
import { newId, type SessionStore } from './session-store.js';
import {
  clearCookie,
  cookie,
  LOGIN_COOKIE,
  newNonce,
  parseCookies,
  SESSION_COOKIE,
  sameOriginRequest,
  sameToken,
  securityHeaders,
  sendHtml,
} from './web-security.js';

export interface ConsoleAppOptions {
  /** Its client's redirect URI names the console's public origin (`http://127.0.0.1:3000` in development). */
  oauth: ConsoleOAuth;
  sessions: SessionStore;
  /** Limits sign-in starts per client IP (each one stores a pending login). */
  loginLimiter: RateLimiter;
  logger: Logger;
  clientIp(req: IncomingMessage): string;
  /** Verifies an access token exactly as /api/v1 does (the caller it describes). */
  authenticate(accessToken: string): Promise<AuthenticatedCaller>;
  /** The /api/v1 router, run for `caller`: the console uses the API's own handlers and checks. */
  dispatch(req: IncomingMessage, res: ServerResponse, url: URL, caller: AuthenticatedCaller): Promise<void>;
  /** Jaeger's UI base URL, handed to the page for trace links; none when unset. */
  jaegerUiUrl?: string | undefined;
}

const SAFE_METHODS = new Set(['GET', 'HEAD']);
const MAX_FORM_BYTES = 4096;

async function readForm(req: IncomingMessage): Promise<URLSearchParams> {
  let text = '';
  for await (const chunk of req) {
    text += String(chunk);
    if (text.length > MAX_FORM_BYTES) return new URLSearchParams();
  }
  return new URLSearchParams(text);
}

/** A console path to return to after sign-in; anything else (another origin, `//host`) becomes the console. */
const returnPath = (value: string | null): string =>
  value !== null && /^\/console(\/[A-Za-z0-9/_.-]*)?$/.test(value) ? value : '/console/';

/** The console's public origin for this request, and the answers built for it. */
interface Site {
  origin: string;
  headers(nonce?: string): Record<string, string>;
  html(res: ServerResponse, status: number, body: string, extra?: Record<string, string>): void;
  json(res: ServerResponse, status: number, body: unknown): void;
}

function siteFor(origin: string): Site {
  const tls = origin.startsWith('https:');
  const headers = (nonce?: string) => securityHeaders({ tls, ...(nonce === undefined ? {} : { nonce }) });
  return {
    origin,
    headers,
    html: (res, status, body, extra = {}) => sendHtml(res, status, body, { ...headers(), ...extra }),
    json: (res, status, body) => sendJson(res, status, body, { ...headers(), 'cache-control': 'no-store' }),
  };
}

export function createConsoleApp(o: ConsoleAppOptions) {
  const assets = loadConsoleAssets();
  const loadSession = createSessionLoader(o.sessions, o.oauth, o.logger);
  let site: Site = siteFor('http://127.0.0.1');

  /** Refuses a state change that lacks this session's anti-forgery token or comes from another origin. */
  const forged = (req: IncomingMessage, live: LiveSession, presented: string | undefined): boolean =>
    !sameOriginRequest(req, site.origin) || !sameToken(presented ?? '', live.session.csrfToken);

  async function startLogin(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    const decision = await o.loginLimiter.take(o.clientIp(req), Date.now());
    if (!decision.allowed) {
      site.html(res, 429, renderMessage('Too many sign-ins', 'Wait a moment and try again.'), {
        'retry-after': String(decision.retryAfterS),
      });
      return;
    }
    const { pending, url: to } = await o.oauth.begin(returnPath(url.searchParams.get('returnTo')));
    const pendingId = await o.sessions.savePending(pending);
    res.writeHead(302, {
      ...site.headers(),
      location: to,
      'cache-control': 'no-store',
      'set-cookie': cookie(LOGIN_COOKIE, pendingId, { sameSite: 'Lax', maxAgeSec: 600 }),
    });
    res.end();
  }

  async function finishLogin(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    const pendingId = parseCookies(req.headers.cookie).get(LOGIN_COOKIE);
    const pending = pendingId === undefined ? null : await o.sessions.takePending(pendingId);
    const again = { href: '/console/login', label: 'Sign in again' };
    const clear = { 'set-cookie': clearCookie(LOGIN_COOKIE) };
    if (pending === null) {
      site.html(
        res,
        400,
        renderMessage('Sign-in expired', 'This sign-in was not started here.', again),
        clear,
      );
      return;
    }
    if (url.searchParams.has('error')) {
      site.html(
        res,
        400,
        renderMessage('Sign-in refused', 'The token service refused the sign-in.', again),
        clear,
      );
      return;
    }
    const callback = new URL(`${url.pathname}${url.search}`, site.origin);
    let tokens: Awaited<ReturnType<ConsoleOAuth['finish']>>;
    let caller: AuthenticatedCaller;
    try {
      tokens = await o.oauth.finish(callback, pending);
      caller = await o.authenticate(tokens.accessToken);
    } catch (err) {
      o.logger.warn({ err }, 'console sign-in failed');
      site.html(
        res,
        400,
        renderMessage('Sign-in failed', 'The sign-in could not be completed.', again),
        clear,
      );
      return;
    }
    const now = Date.now();
    const id = await o.sessions.create({
      subject: caller.keyId,
      username: tokens.username ?? caller.keyId,
      tenantId: caller.tenantId,
      scopes: [...caller.scopes],
      accessToken: tokens.accessToken,
      accessExpiresAt: tokens.accessExpiresAt,
      refreshToken: tokens.refreshToken,
      csrfToken: newId(),
      createdAt: now,
      lastSeenAt: now,
    });
    o.logger.info({ actor: caller.actor }, 'console sign-in');
    res.setHeader('set-cookie', [
      clearCookie(LOGIN_COOKIE),
      cookie(SESSION_COOKIE, id, { sameSite: 'Strict' }),
    ]);
    site.html(res, 200, renderContinue(pending.returnTo));
  }

  async function logout(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const live = await loadSession(req);
    const form = await readForm(req);
    if (live === null || forged(req, live, form.get('csrf') ?? undefined)) {
      site.html(res, 403, renderMessage('Forbidden', 'This request was not made by the console.'));
      return;
    }
    await o.sessions.destroy(live.id);
    if (live.session.refreshToken !== null) {
      await o.oauth.revoke(live.session.refreshToken).catch((err: unknown) => {
        o.logger.warn({ err }, 'console sign-out: refresh token revocation failed');
      });
    }
    site.html(
      res,
      200,
      renderMessage('Signed out', 'You are signed out.', { href: '/console/login', label: 'Sign in' }),
      {
        'set-cookie': clearCookie(SESSION_COOKIE),
      },
    );
  }

  async function api(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    const live = await loadSession(req);
    if (live === null) {
      site.json(res, 401, { error: 'unauthenticated' });
      return;
    }
    if (!SAFE_METHODS.has(req.method ?? '') && forged(req, live, req.headers['x-csrf-token'] as string)) {
      // Nothing was read or forwarded: the request changes nothing.
      site.json(res, 403, { error: 'forbidden', message: 'anti-forgery token missing or wrong' });
      return;
    }
    const caller = await o.authenticate(live.session.accessToken);
    for (const [k, v] of Object.entries(site.headers())) res.setHeader(k, v);
    res.setHeader('cache-control', 'no-store');
    const inner = new URL(url.href);
    inner.pathname = url.pathname.slice('/console'.length);
    await o.dispatch(req, res, inner, caller);
  }

  /**
   * A QR code of `text` as an SVG data URL, for the TOTP enrollment page (the console draws no HTML, so the
   * image is drawn here and shown as <img>). Signed-in, anti-forgery token, at most 1 KiB of text.
   */
  async function qr(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const live = await loadSession(req);
    if (live === null) return site.json(res, 401, { error: 'unauthenticated' });
    if (forged(req, live, req.headers['x-csrf-token'] as string)) {
      return site.json(res, 403, { error: 'forbidden', message: 'anti-forgery token missing or wrong' });
    }
    const body = await readJsonBody(req, 2048);
    const text = body.ok ? (body.value as { text?: unknown }).text : undefined;
    if (typeof text !== 'string' || text.length === 0 || text.length > 1024) {
      return site.json(res, 400, { error: 'invalid_argument', message: 'text: 1-1024 characters' });
    }
    const svg = renderSVG(text, { pixelSize: 5 });
    site.json(res, 200, { dataUrl: `data:image/svg+xml;base64,${Buffer.from(svg).toString('base64')}` });
  }

  async function shell(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    const live = await loadSession(req);
    if (live === null) {
      const back = encodeURIComponent(returnPath(url.pathname));
      res.writeHead(302, {
        ...site.headers(),
        location: `/console/login?returnTo=${back}`,
        'cache-control': 'no-store',
      });
      res.end();
      return;
    }
    const nonce = newNonce();
    const s = live.session;
    sendHtml(
      res,
      200,
      renderShell(assets, {
        nonce,
        csrfToken: s.csrfToken,
        username: s.username,
        userId: s.subject,
        tenantId: s.tenantId,
        scopes: s.scopes,
        jaegerUiUrl: o.jaegerUiUrl ?? '',
      }),
      site.headers(nonce),
    );
  }

  /** Serves everything under /console; answers true when the path was the console's. */
  return async function serve(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    try {
      const origin = await o.oauth.origin();
      if (origin !== site.origin) site = siteFor(origin);
    } catch (err) {
      if (!isZenMeshError(err, 'ERR_CONSOLE_NOT_REGISTERED')) throw err;
      site.html(res, 503, renderMessage('Console not registered', 'The console has no OAuth client yet.'));
      return;
    }
    const path = url.pathname;
    const get = req.method === 'GET';
    if (path.startsWith('/console/api/v1/') || path === '/console/api/v1') return api(req, res, url);
    if (path.startsWith('/console/assets/') && get) {
      const asset = assets.find(path);
      if (asset === undefined) site.json(res, 404, { error: 'not_found' });
      else sendAsset(res, asset, site.headers());
      return;
    }
    if (path === '/console/login' && get) return startLogin(req, res, url);
    if (path === '/console/callback' && get) return finishLogin(req, res, url);
    if (path === '/console/logout' && req.method === 'POST') return logout(req, res);
    if (path === '/console/qr' && req.method === 'POST') return qr(req, res);
    if ((path === '/console' || path === '/console/') && get) return shell(req, res, url);
    site.json(res, 404, { error: 'not_found' });
  };
}
