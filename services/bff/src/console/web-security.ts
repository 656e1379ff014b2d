import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';

/** The session cookie: `__Host-` (Secure, Path=/, no Domain), HttpOnly, SameSite=Strict. */
export const SESSION_COOKIE = '__Host-zm_console';
/**
 * Binds a sign-in in progress to the browser that started it. SameSite=Lax, because the callback arrives as a
 * top-level navigation from the token service, which may be another site; it only names a pending login.
 */
export const LOGIN_COOKIE = '__Host-zm_console_login';

export const newNonce = (): string => randomBytes(18).toString('base64');

/**
 * A strict policy: scripts only with this response's nonce (and what they load, `strict-dynamic`), DOM
 * sinks only through Trusted Types (the console never uses innerHTML), nothing framed, no plugins, no <base>.
 */
export function contentSecurityPolicy(nonce: string): string {
  return [
    "default-src 'none'",
    `script-src 'nonce-${nonce}' 'strict-dynamic'`,
    "style-src 'self'",
    "img-src 'self' data:",
    "connect-src 'self'",
    "form-action 'self'",
    "frame-ancestors 'none'",
    "base-uri 'none'",
    "object-src 'none'",
    "require-trusted-types-for 'script'",
    "trusted-types 'none'",
  ].join('; ');
}

/** Headers every console answer carries; HSTS only when the console is served over TLS. */
export function securityHeaders(options: { tls: boolean; nonce?: string }): Record<string, string> {
  return {
    'content-security-policy': contentSecurityPolicy(options.nonce ?? newNonce()),
    'x-content-type-options': 'nosniff',
    // Not no-referrer: under it Chromium sends `Origin: null` on same-origin form posts (sign-out).
    'referrer-policy': 'same-origin',
    'x-frame-options': 'DENY',
    'cross-origin-opener-policy': 'same-origin',
    'cross-origin-resource-policy': 'same-origin',
    'permissions-policy': 'camera=(), microphone=(), geolocation=(), payment=()',
    ...(options.tls ? { 'strict-transport-security': 'max-age=31536000; includeSubDomains' } : {}),
  };
}

export function parseCookies(header: string | undefined): Map<string, string> {
  const out = new Map<string, string>();
  for (const part of (header ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq <= 0) continue;
    const name = part.slice(0, eq).trim();
    // The first cookie of a name wins; a value is never decoded (ours are base64url).
    if (!out.has(name)) out.set(name, part.slice(eq + 1).trim());
  }
  return out;
}

export function cookie(
  name: string,
  value: string,
  options: { sameSite: 'Strict' | 'Lax'; maxAgeSec?: number },
): string {
  const age = options.maxAgeSec === undefined ? '' : `; Max-Age=${options.maxAgeSec}`;
  return `${name}=${value}; Path=/; Secure; HttpOnly; SameSite=${options.sameSite}${age}`;
}

export const clearCookie = (name: string): string =>
  `${name}=; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age=0`;

/** Constant-time comparison of two tokens (different lengths are simply unequal). */
export function sameToken(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && x.length > 0 && timingSafeEqual(x, y);
}

/**
 * A state-changing request must come from the console's own origin when the browser says where it comes from
 * (Origin, then Sec-Fetch-Site); the anti-forgery token is checked separately and always.
 */
export function sameOriginRequest(req: IncomingMessage, origin: string): boolean {
  const from = req.headers.origin;
  if (from !== undefined && from !== 'null') return from === origin;
  if (from === 'null') return false;
  const site = req.headers['sec-fetch-site'];
  return site === undefined || site === 'same-origin';
}

export function sendHtml(
  res: ServerResponse,
  status: number,
  html: string,
  headers: Record<string, string>,
): void {
  res.writeHead(status, {
    ...headers,
    'content-type': 'text/html; charset=utf-8',
    'cache-control': 'no-store',
    'content-length': String(Buffer.byteLength(html)),
  });
  res.end(html);
}
