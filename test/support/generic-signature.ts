import { createHmac } from 'node:crypto';

/**
 * The headers of a webhook signed with a generic source's default scheme: a Unix-seconds timestamp in
 * X-Timestamp and X-Signature `sha256=` + hex HMAC-SHA256 of "<timestamp>.<body>".
 */
export function signGeneric(secret: string, body: string, nowMs = Date.now()): Record<string, string> {
  const ts = String(Math.floor(nowMs / 1000));
  return {
    'x-timestamp': ts,
    'x-signature': `sha256=${createHmac('sha256', secret).update(`${ts}.${body}`).digest('hex')}`,
  };
}
