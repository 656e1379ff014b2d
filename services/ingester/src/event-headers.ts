import type { IncomingHttpHeaders } from 'node:http';

/**
 * The request headers stored with an event, for connection filters and transformations to read
 * (docs/routing.md). Credentials (including GitLab's X-Gitlab-Token, which is the source secret itself) and
 * hop-by-hop fields are never stored; repeated headers are joined
 * with ", " (RFC 9110 §5.3); anything over the bounds the backend enforces (64 headers, 4096 characters a
 * value, 16 KiB in all) is left out rather than failing the webhook.
 */
const DROPPED = new Set([
  'authorization',
  'proxy-authorization',
  'cookie',
  'set-cookie',
  // GitLab sends the source's shared secret itself in this header (no HMAC): it must never be stored.
  'x-gitlab-token',
  // Common bearer-style credential headers.
  'x-api-key',
  'api-key',
  'x-auth-token',
  'x-access-token',
  'connection',
  'keep-alive',
  'transfer-encoding',
  'te',
  'trailer',
  'upgrade',
  'content-length',
]);
const MAX_HEADERS = 64;
const MAX_VALUE = 4096;
const MAX_TOTAL = 16 * 1024;
const PRINTABLE = /^[\t\x20-\x7e\x80-\uffff]*$/;

export function eventHeaders(headers: IncomingHttpHeaders): Record<string, string> {
  const out: Record<string, string> = {};
  let count = 0;
  let total = 0;
  for (const [name, raw] of Object.entries(headers)) {
    if (raw === undefined || DROPPED.has(name)) continue;
    const value = Array.isArray(raw) ? raw.join(', ') : raw;
    if (value.length > MAX_VALUE || !PRINTABLE.test(value)) continue;
    if (count === MAX_HEADERS || total + name.length + value.length > MAX_TOTAL) break;
    out[name] = value;
    count += 1;
    total += name.length + value.length;
  }
  return out;
}
