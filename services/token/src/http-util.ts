import type { IncomingMessage, ServerResponse } from 'node:http';
import { sendJson as sendJsonResponse } from '@zenmesh/http';
import { OAuthError } from './errors.js';

export const MAX_FORM_BYTES = 64 * 1024;

const BASE_HEADERS = {
  'cache-control': 'no-store',
  pragma: 'no-cache',
  'x-content-type-options': 'nosniff',
} as const;

/** The shared JSON answer, with `pragma: no-cache` as RFC 6749 §5.1 asks of token responses. */
export const sendJson = (
  res: ServerResponse,
  status: number,
  body: unknown,
  extra: Record<string, string> = {},
): void => sendJsonResponse(res, status, body, { pragma: 'no-cache', ...extra });

/**
 * An HTML page under a CSP that allows no script and no framing. `formAction` adds origins a form on the
 * page may end up at: CSP Level 3 checks form-action against every redirect of the form's navigation too
 * (Chromium enforces this), so the login form must name the client's redirect origin or its 302 is blocked.
 */
export function sendHtml(
  res: ServerResponse,
  status: number,
  html: string,
  extra: Record<string, string> = {},
  csp: { formAction?: readonly string[] } = {},
): void {
  const formAction = ["'self'", ...(csp.formAction ?? [])].join(' ');
  res.writeHead(status, {
    ...BASE_HEADERS,
    ...extra,
    'content-type': 'text/html; charset=utf-8',
    'content-length': Buffer.byteLength(html),
    'content-security-policy': `default-src 'none'; style-src 'unsafe-inline'; form-action ${formAction}; frame-ancestors 'none'`,
    'x-frame-options': 'DENY',
    'referrer-policy': 'no-referrer',
  });
  res.end(html);
}

/** Reads an application/x-www-form-urlencoded body (RFC 6749 §3.2 requires it at the token endpoint). */
export async function readForm(req: IncomingMessage): Promise<URLSearchParams> {
  const type = (req.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase();
  if (type !== 'application/x-www-form-urlencoded') {
    throw new OAuthError('invalid_request', 'expected application/x-www-form-urlencoded');
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_FORM_BYTES) throw new OAuthError('invalid_request', 'request body too large', 413);
    chunks.push(chunk as Buffer);
  }
  const form = new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
  // RFC 6749 §3.1: request parameters MUST NOT be included more than once.
  const seen = new Set<string>();
  for (const key of form.keys()) {
    if (seen.has(key)) throw new OAuthError('invalid_request', `parameter ${key} repeated`);
    seen.add(key);
  }
  return form;
}

export const escapeHtml = (s: string) =>
  s.replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] ?? c,
  );

export function cookie(req: IncomingMessage, name: string): string | undefined {
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const [k, ...v] = part.trim().split('=');
    if (k === name) return v.join('=');
  }
  return undefined;
}

/**
 * A `__Host-` cookie (RFC 6265bis §4.1.3.2): Secure, Path=/, no Domain, so no other origin — not a sibling
 * subdomain, not a plain-http page on the same host — can set or overwrite it. HttpOnly and SameSite=Strict:
 * only this origin's own form posts carry it. Browsers treat loopback http as secure for this (Chromium and
 * Firefox), which is why plain http is accepted only for a loopback issuer.
 */
export function hostCookie(name: `__Host-${string}`, value: string, maxAgeSec?: number): string {
  return `${name}=${value}; Path=/; Secure; HttpOnly; SameSite=Strict${maxAgeSec === undefined ? '' : `; Max-Age=${maxAgeSec}`}`;
}
