import type { ServerResponse } from 'node:http';

/**
 * Defaults of every JSON answer of the HTTP faces (ingester, token service, bff): never cached (answers carry
 * tokens, secrets shown once, per-caller data) unless the caller says so (public metadata, JWKS), and never
 * sniffed into another type.
 */
const DEFAULT_HEADERS = {
  'cache-control': 'no-store',
  'x-content-type-options': 'nosniff',
} as const;

/**
 * The one JSON-response helper of the HTTP faces: `body` serialised once, sent with its exact length as
 * `application/json; charset=utf-8`. `extra` headers (rate limits, Retry-After, Allow, a public resource's
 * cache directives) add to or replace the defaults; they cannot change the content type or length.
 */
export function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  extra: Readonly<Record<string, string>> = {},
): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    ...DEFAULT_HEADERS,
    ...extra,
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
  });
  res.end(text);
}
