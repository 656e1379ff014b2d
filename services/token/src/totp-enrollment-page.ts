import { timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { randomToken } from '@zenmesh/crypto';
import { renderSVG } from 'uqr';
import type { AccountAudit } from './account-audit.js';
import type { EnrollmentLinks } from './enrollment-links.js';
import { ENROLLMENT_PATH } from './enrollment-links.js';
import { cookie, escapeHtml, hostCookie, readForm, sendHtml } from './http-util.js';
import { DEVICE_COOKIE, type KnownDevices } from './known-devices.js';
import { type LoginBackoff, OPEN_LANE } from './login-backoff.js';
import type { RateLimiter } from './rate-limit.js';
import type { SessionStore } from './sessions.js';
import type { UserRecord, UserStore } from './users.js';

const CSRF_COOKIE = '__Host-zm_enroll_csrf';

/**
 * The page behind an admin's TOTP reset link (issue 12, defect 1). Step 1 asks for the user's password —
 * the link alone proves nothing, since the admin who asked for it has seen it; step 2 shows the new secret
 * (QR and text) and recovery codes once and takes the confirming code. The link is single use: once its
 * secret has been shown it cannot be opened again, and it ends when the new factor is confirmed. Until then
 * the user's old factor keeps working.
 */
export function createTotpEnrollmentPage(options: {
  users: UserStore;
  links: EnrollmentLinks;
  audit: AccountAudit;
  backoff: LoginBackoff;
  devices: KnownDevices;
  sessions: SessionStore;
  limiter: RateLimiter;
  ip: (req: IncomingMessage) => string;
}) {
  const { users, links, audit, backoff, devices } = options;

  const shell = (body: string) =>
    `<!doctype html><html><head><meta charset="utf-8"><title>Zen Mesh authenticator setup</title></head><body>
<h1>Set up your authenticator</h1>${body}</body></html>`;
  const gone = (res: ServerResponse) =>
    sendHtml(
      res,
      410,
      shell('<p role="alert">This link is invalid, expired or already used. Ask for a new one.</p>'),
    );
  const form = (token: string, csrf: string, step: 'password' | 'confirm', inner: string) =>
    `<form method="post" action="${ENROLLMENT_PATH}"><input type="hidden" name="token" value="${escapeHtml(token)}">` +
    `<input type="hidden" name="csrf" value="${csrf}"><input type="hidden" name="step" value="${step}">${inner}</form>`;
  const passwordPage = (
    res: ServerResponse,
    status: number,
    token: string,
    user: UserRecord,
    message = '',
    extra = {},
  ) => {
    const csrf = randomToken(16);
    sendHtml(
      res,
      status,
      shell(`<p>Account <b>${escapeHtml(user.username)}</b>. Enter your password to see your new secret.</p>
${message === '' ? '' : `<p role="alert">${escapeHtml(message)}</p>`}
${form(token, csrf, 'password', '<label>Password <input name="password" type="password" autocomplete="current-password" required></label><button type="submit">Continue</button>')}`),
      { ...extra, 'set-cookie': hostCookie(CSRF_COOKIE, csrf) },
    );
  };
  const confirmForm = (token: string, csrf: string) =>
    form(
      token,
      csrf,
      'confirm',
      '<label>Code from the app <input name="code" inputmode="numeric" autocomplete="one-time-code" required></label><button type="submit">Confirm</button>',
    );
  const csrfOk = (req: IncomingMessage, presented: string) => {
    const a = Buffer.from(presented);
    const b = Buffer.from(cookie(req, CSRF_COOKIE) ?? '');
    return a.length >= 16 && a.length === b.length && timingSafeEqual(a, b);
  };
  const laneFor = async (req: IncomingMessage, user: UserRecord) => {
    const t = cookie(req, DEVICE_COOKIE);
    return t !== undefined && (await devices.userOf(t)) === user.id ? devices.lane(t) : OPEN_LANE;
  };
  const by = (req: IncomingMessage, user: UserRecord) => ({
    actor: `link:${user.id}`,
    via: 'http',
    ip: options.ip(req),
    userAgent: String(req.headers['user-agent'] ?? ''),
  });

  return {
    async get(_req: IncomingMessage, res: ServerResponse, url: URL) {
      const token = url.searchParams.get('token') ?? '';
      const link = await links.find(token);
      const user = link === null || link.openedAt !== null ? null : await users.get(link.userId);
      if (user === null) return gone(res);
      passwordPage(res, 200, token, user);
    },

    async post(req: IncomingMessage, res: ServerResponse) {
      const limited = await options.limiter.consume(`ip:${options.ip(req)}`);
      if (!limited.allowed) {
        sendHtml(res, 429, shell('<p role="alert">Too many attempts. Try again later.</p>'), limited.headers);
        return;
      }
      const body = await readForm(req);
      const token = body.get('token') ?? '';
      const link = await links.find(token);
      const user = link === null ? null : await users.get(link.userId);
      if (link === null || user === null) return gone(res);
      const step = body.get('step');
      if (!csrfOk(req, body.get('csrf') ?? '')) {
        if (step === 'password' && link.openedAt === null)
          return passwordPage(res, 403, token, user, 'This form expired. Please try again.');
        sendHtml(res, 403, shell('<p role="alert">This form expired. Reload the page.</p>'));
        return;
      }
      const lane = await laneFor(req, user);
      const attempt = await backoff.begin(user.username, lane);
      if (!attempt.allowed) {
        const wait = String(attempt.retryAfterSec);
        sendHtml(res, 429, shell(`<p role="alert">Too many failed attempts. Try again in ${wait} s.</p>`), {
          'retry-after': wait,
        });
        return;
      }

      if (step === 'password') {
        if (link.openedAt !== null) return gone(res);
        if (!(await users.verifyPassword(user.id, body.get('password') ?? ''))) {
          await options.sessions.audit({
            kind: 'enrollment_password_failed',
            userId: user.id,
            ip: options.ip(req),
          });
          return passwordPage(res, 401, token, user, 'Wrong password.');
        }
        // First caller wins: the secret is shown exactly once per link.
        if (!(await links.open(token))) return gone(res);
        await backoff.succeed(user.username, lane);
        const enrollment = await users.enrollTotp(user.id);
        await audit.append(by(req, user), {
          action: 'totp.reset_link_opened',
          target: `user/${user.id}`,
          detail: { issuedBy: link.issuedBy },
        });
        const csrf = randomToken(16);
        sendHtml(
          res,
          200,
          shell(`<p>Scan this with your authenticator app, or type the secret.</p>
<figure>${renderSVG(enrollment.uri, { pixelSize: 5 })}</figure>
<p>Secret: <code>${escapeHtml(enrollment.secret)}</code></p>
<p>Recovery codes (each works once; they are shown only now):</p>
<ul>${enrollment.recoveryCodes.map((c) => `<li><code>${escapeHtml(c)}</code></li>`).join('')}</ul>
<p>Your previous authenticator keeps working until you confirm this one.</p>
${confirmForm(token, csrf)}`),
          { 'set-cookie': hostCookie(CSRF_COOKIE, csrf) },
        );
        return;
      }

      if (step === 'confirm' && link.openedAt !== null) {
        if (!(await users.confirmTotp(user.id, body.get('code') ?? ''))) {
          await audit.append(by(req, user), {
            action: 'totp.confirm',
            target: `user/${user.id}`,
            detail: { refused: 'totp_code_invalid', via: 'link' },
          });
          const csrf = randomToken(16);
          sendHtml(
            res,
            400,
            shell(
              `<p role="alert">That code did not match. Try the current one.</p>${confirmForm(token, csrf)}`,
            ),
            { 'set-cookie': hostCookie(CSRF_COOKIE, csrf) },
          );
          return;
        }
        await links.complete(token);
        await backoff.succeed(user.username, lane);
        await audit.append(by(req, user), {
          action: 'totp.confirmed',
          target: `user/${user.id}`,
          detail: { via: 'link', issuedBy: link.issuedBy },
        });
        sendHtml(res, 200, shell('<p>Done. Sign in with your new authenticator from now on.</p>'));
        return;
      }
      gone(res);
    },
  };
}
