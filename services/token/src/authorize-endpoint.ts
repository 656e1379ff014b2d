import { timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { OIDC_SCOPES, parseScope, ROLE_SCOPES } from '@zenmesh/auth';
import { randomToken } from '@zenmesh/crypto';
import type { OAuthClient } from './clients.js';
import type { Grants } from './grants.js';
import { cookie, escapeHtml, hostCookie, readForm, sendHtml } from './http-util.js';
import { DEVICE_COOKIE, DEVICE_COOKIE_MAX_AGE_SEC, type KnownDevices } from './known-devices.js';
import { type LoginBackoff, OPEN_LANE } from './login-backoff.js';
import type { RateLimiter } from './rate-limit.js';
import type { SessionStore } from './sessions.js';
import type { UserRecord, UserStore } from './users.js';

const CSRF_COOKIE = '__Host-zm_login_csrf';
const PARAMS = [
  'response_type',
  'client_id',
  'redirect_uri',
  'scope',
  'state',
  'nonce',
  'code_challenge',
  'code_challenge_method',
  'tenant',
] as const;

interface ValidRequest {
  client: OAuthClient;
  redirectUri: string;
  scopes: string[];
  state: string | null;
  nonce: string | null;
  codeChallenge: string;
  tenant: string | null;
  params: URLSearchParams;
}

type Validation =
  | { ok: true; request: ValidRequest }
  | { ok: false; redirect?: string; status: number; message: string };

/** The authorization endpoint (RFC 6749 §4.1.1): a login form, then a code for the dashboard's PKCE flow. */
export function createAuthorizeEndpoint(options: {
  issuer: string;
  getClient: (id: string) => Promise<OAuthClient | null>;
  users: UserStore;
  grants: Grants;
  sessions: SessionStore;
  limiter: RateLimiter;
  backoff: LoginBackoff;
  devices: KnownDevices;
  ip: (req: IncomingMessage) => string;
  now: () => Date;
}) {
  const errorRedirect = (r: { redirectUri: string; state: string | null }, error: string) => {
    const u = new URL(r.redirectUri);
    u.searchParams.set('error', error);
    if (r.state !== null) u.searchParams.set('state', r.state);
    u.searchParams.set('iss', options.issuer);
    return u.toString();
  };

  async function validate(params: URLSearchParams): Promise<Validation> {
    const client = await options.getClient(params.get('client_id') ?? '');
    // RFC 6749 §4.1.2.1: with an unknown client or redirect URI the user is told, never redirected.
    if (client === null || !client.grantTypes.includes('authorization_code')) {
      return { ok: false, status: 400, message: 'Unknown client.' };
    }
    const redirectUri = params.get('redirect_uri') ?? '';
    if (!client.redirectUris.includes(redirectUri))
      return { ok: false, status: 400, message: 'Unregistered redirect URI.' };
    const state = params.get('state');
    const base = { redirectUri, state };
    if (params.get('response_type') !== 'code') {
      return {
        ok: false,
        status: 302,
        redirect: errorRedirect(base, 'unsupported_response_type'),
        message: '',
      };
    }
    const challenge = params.get('code_challenge') ?? '';
    // PKCE is mandatory and S256 only (RFC 9700 §2.1.1): `plain` and a missing challenge are refused.
    if (params.get('code_challenge_method') !== 'S256' || !/^[A-Za-z0-9_-]{43}$/.test(challenge)) {
      return { ok: false, status: 302, redirect: errorRedirect(base, 'invalid_request'), message: '' };
    }
    const scopes = parseScope(params.get('scope'));
    if (scopes.some((s) => !client.scopes.includes(s) && !(OIDC_SCOPES as readonly string[]).includes(s))) {
      return { ok: false, status: 302, redirect: errorRedirect(base, 'invalid_scope'), message: '' };
    }
    return {
      ok: true,
      request: {
        client,
        redirectUri,
        scopes,
        state,
        nonce: params.get('nonce'),
        codeChallenge: challenge,
        tenant: params.get('tenant'),
        params,
      },
    };
  }

  const page = (
    res: ServerResponse,
    status: number,
    request: ValidRequest,
    csrf: string,
    message: string,
    headers: Record<string, string> = {},
  ) => {
    const hidden = PARAMS.map((p) => {
      const v = request.params.get(p);
      return v === null ? '' : `<input type="hidden" name="${p}" value="${escapeHtml(v)}">`;
    }).join('');
    sendHtml(
      res,
      status,
      `<!doctype html><html><head><meta charset="utf-8"><title>Zen Mesh sign in</title></head><body>
<h1>Sign in to Zen Mesh</h1><p>${escapeHtml(request.client.name)} asks to act for you.</p>
${message === '' ? '' : `<p role="alert">${escapeHtml(message)}</p>`}
<form method="post" action="/oauth/authorize">${hidden}<input type="hidden" name="csrf" value="${csrf}">
<label>User <input name="username" autocomplete="username" required></label>
<label>Password <input name="password" type="password" autocomplete="current-password" required></label>
<label>Authentication code <input name="totp" inputmode="numeric" autocomplete="one-time-code"></label>
<label>or recovery code <input name="recovery_code"></label>
<button type="submit">Sign in</button></form></body></html>`,
      { ...headers, 'set-cookie': hostCookie(CSRF_COOKIE, csrf) },
      // The form posts here, and its answer redirects to the client: both must be allowed form targets.
      { formAction: [new URL(request.redirectUri).origin] },
    );
  };

  /** The membership a login acts under: the one named by `tenant`, else cluster-wide, else the first. */
  const pickMembership = (user: UserRecord, tenant: string | null) => {
    if (tenant !== null) return user.memberships.find((m) => m.tenantId === tenant) ?? null;
    return user.memberships.find((m) => m.tenantId === null) ?? user.memberships[0] ?? null;
  };

  return {
    async get(req: IncomingMessage, res: ServerResponse, url: URL) {
      const v = await validate(url.searchParams);
      if (!v.ok) {
        if (v.redirect !== undefined)
          res.writeHead(302, { location: v.redirect, 'cache-control': 'no-store' }).end();
        else sendHtml(res, v.status, `<!doctype html><p>${escapeHtml(v.message)}</p>`);
        return;
      }
      void req;
      page(res, 200, v.request, randomToken(16), '');
    },

    async post(req: IncomingMessage, res: ServerResponse) {
      const decision = await options.limiter.consume(`ip:${options.ip(req)}`);
      if (!decision.allowed) {
        sendHtml(res, 429, '<!doctype html><p>Too many attempts. Try again later.</p>', decision.headers);
        return;
      }
      const form = await readForm(req);
      const v = await validate(form);
      if (!v.ok) {
        if (v.redirect !== undefined)
          res
            .writeHead(302, { location: v.redirect, 'cache-control': 'no-store', ...decision.headers })
            .end();
        else sendHtml(res, v.status, `<!doctype html><p>${escapeHtml(v.message)}</p>`, decision.headers);
        return;
      }
      const request = v.request;
      const presentedCsrf = Buffer.from(form.get('csrf') ?? '');
      const cookieCsrf = Buffer.from(cookie(req, CSRF_COOKIE) ?? '');
      if (
        presentedCsrf.length < 16 ||
        presentedCsrf.length !== cookieCsrf.length ||
        !timingSafeEqual(presentedCsrf, cookieCsrf)
      ) {
        page(res, 403, request, randomToken(16), 'Your sign-in form expired. Please try again.');
        return;
      }
      // Per-account backoff before any credential is checked (login-backoff.ts): a browser holding this
      // account's device cookie has its own lane, so a stranger's failures cannot lock the owner out of it.
      const username = form.get('username') ?? '';
      const deviceToken = cookie(req, DEVICE_COOKIE);
      const known = await options.users.findByUsername(username);
      const deviceUser = await options.devices.userOf(deviceToken);
      const lane =
        known !== null && deviceToken !== undefined && deviceUser === known.id
          ? options.devices.lane(deviceToken)
          : OPEN_LANE;
      const attempt = await options.backoff.begin(username, lane);
      if (!attempt.allowed) {
        const wait = attempt.retryAfterSec;
        page(
          res,
          429,
          request,
          randomToken(16),
          `Too many failed sign-ins for this account. Try again in ${wait} s.`,
          {
            ...decision.headers,
            'retry-after': String(wait),
          },
        );
        return;
      }
      const result = await options.users.login({
        username,
        password: form.get('password') ?? '',
        totp: form.get('totp') ?? '',
        recoveryCode: form.get('recovery_code') ?? '',
      });
      if (!result.ok) {
        if (result.reason === 'invalid_credentials') {
          await options.sessions.audit({
            kind: 'login_failed',
            clientId: request.client.id,
            userId: known?.id ?? null,
            ip: options.ip(req),
            detail: {
              lane: lane === OPEN_LANE ? 'open' : 'device',
              failures: attempt.failures,
              lockedForSec: attempt.lockedForSec,
            },
          });
        }
        const msg =
          result.reason === 'mfa_required'
            ? 'Enter your authentication code or a recovery code.'
            : 'Invalid credentials.';
        page(res, 401, request, randomToken(16), msg);
        return;
      }
      await options.backoff.succeed(username, lane);
      const setCookies =
        lane === OPEN_LANE
          ? [
              hostCookie(
                DEVICE_COOKIE,
                await options.devices.issue(result.user.id),
                DEVICE_COOKIE_MAX_AGE_SEC,
              ),
            ]
          : [];
      const membership = pickMembership(result.user, request.tenant);
      if (membership === null) {
        res
          .writeHead(302, { location: errorRedirect(request, 'access_denied'), 'cache-control': 'no-store' })
          .end();
        return;
      }
      // A user gets what was asked, cut down to what the role allows and the client may carry (RFC 6749 §3.3).
      const allowed = new Set<string>([...ROLE_SCOPES[membership.role], ...OIDC_SCOPES]);
      const scopes = request.scopes.filter((s) => allowed.has(s));
      const code = await options.grants.issueCode({
        clientId: request.client.id,
        redirectUri: request.redirectUri,
        codeChallenge: request.codeChallenge,
        userId: result.user.id,
        tenantId: membership.tenantId,
        scopes,
        nonce: request.nonce,
        amr: result.amr,
        authTime: options.now(),
      });
      const to = new URL(request.redirectUri);
      to.searchParams.set('code', code);
      if (request.state !== null) to.searchParams.set('state', request.state);
      // RFC 9207: the issuer identifies who answered, against mix-up attacks.
      to.searchParams.set('iss', options.issuer);
      res
        .writeHead(302, {
          location: to.toString(),
          'cache-control': 'no-store',
          ...decision.headers,
          ...(setCookies.length === 0 ? {} : { 'set-cookie': setCookies }),
        })
        .end();
    },
  };
}
