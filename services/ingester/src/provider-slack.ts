import { createHmac } from 'node:crypto';
import { anyEqual, checkTimestamp, HEX, header, jsonObject, refuse, verified } from './verify-util.js';
import type { Verification, WebhookVerifier } from './webhook-verifier.js';

/**
 * Slack: `X-Slack-Signature: v0=<hex HMAC-SHA256 of "v0:<ts>:<body>">` with the app's signing secret,
 * `X-Slack-Request-Timestamp` in Unix seconds, 300 s tolerance
 * (https://docs.slack.dev/authentication/verifying-requests-from-slack). Events API bodies are JSON with
 * `event_id` (the delivery id; Slack retries keep it) and `event.type`; slash commands and interactivity
 * are form-encoded and carry no id. The one-time `url_verification` request is answered with its
 * challenge (https://docs.slack.dev/reference/events/url_verification) and stored nowhere.
 * CloudEvents type `com.slack.<event.type>` (Events API), `com.slack.command`, `com.slack.interactive`.
 */
export const slackVerifier: WebhookVerifier = {
  provider: 'slack',
  signsDeliveryId: false,
  verify({ headers, body, secrets, nowMs, toleranceS }): Verification {
    if (secrets.length === 0) return refuse('no_secrets');
    const value = header(headers, 'x-slack-signature');
    if (value === undefined) return refuse('missing_signature');
    if (value === null || !value.startsWith('v0=')) return refuse('malformed_signature');
    const digest = value.slice(3);
    if (digest.length !== 64 || !HEX.test(digest)) return refuse('malformed_signature');
    const ts = header(headers, 'x-slack-request-timestamp');
    const stamp = checkTimestamp(ts, nowMs, toleranceS);
    if (!stamp.ok) return refuse(stamp.reason);
    const signed = (secret: string) => createHmac('sha256', secret).update(`v0:${ts}:`).update(body).digest();
    if (!anyEqual(secrets.map(signed), [Buffer.from(digest, 'hex')])) return refuse('signature_mismatch');

    const time = new Date(stamp.seconds * 1000);
    const json = jsonObject(body);
    if (json !== undefined) {
      if (json.type === 'url_verification' && typeof json.challenge === 'string') {
        return { ok: true, webhook: { deliveryId: '', type: '', handshake: { challenge: json.challenge } } };
      }
      const inner = json.event as { type?: unknown } | undefined;
      const name = typeof inner?.type === 'string' ? inner.type : json.type;
      const id = typeof json.event_id === 'string' ? json.event_id : undefined;
      return verified({
        deliveryId: id,
        prefix: 'com.slack.',
        name: typeof name === 'string' ? name : undefined,
        time,
      });
    }
    const form = new URLSearchParams(body.toString('utf8'));
    const name = form.has('command') ? 'command' : form.has('payload') ? 'interactive' : 'request';
    return verified({ deliveryId: undefined, prefix: 'com.slack.', name, time });
  },
};
