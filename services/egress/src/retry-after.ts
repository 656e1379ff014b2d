// The most we pass on: the backend caps its own schedule anyway, and a hostile target should not be able
// to park a delivery for years with one header.
const MAX_RETRY_AFTER_S = 7 * 24 * 3600;

/**
 * Seconds to wait from a Retry-After header value, 0 when absent or unparseable. The value is either
 * delay-seconds or an HTTP-date (RFC 9110 §10.2.3); a date in the past means "now".
 */
export function parseRetryAfter(value: string | string[] | undefined, now: Date = new Date()): number {
  const text = (Array.isArray(value) ? value[0] : value)?.trim();
  if (text === undefined || text === '') return 0;
  if (/^\d+$/.test(text)) return Math.min(Number(text), MAX_RETRY_AFTER_S);
  // HTTP-date is IMF-fixdate (or one of two obsolete forms), all of which name a weekday and "GMT".
  if (!/^[A-Za-z]{3}/.test(text)) return 0;
  const at = Date.parse(text);
  if (Number.isNaN(at)) return 0;
  return Math.min(Math.max(0, Math.ceil((at - now.getTime()) / 1000)), MAX_RETRY_AFTER_S);
}
