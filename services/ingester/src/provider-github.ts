import { createHmac } from 'node:crypto';
import { anyEqual, HEX, header, jsonObject, refuse, verified } from './verify-util.js';
import type { WebhookVerifier } from './webhook-verifier.js';

/**
 * GitHub: `X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the body>`, delivery id `X-GitHub-Delivery`,
 * event `X-GitHub-Event` (https://docs.github.com/en/webhooks/using-webhooks/validating-webhook-deliveries,
 * https://docs.github.com/en/webhooks/webhook-events-and-payloads#delivery-headers). The scheme has no
 * timestamp: the delivery id is the only replay guard, so deduplication on it matters here.
 * CloudEvents type `com.github.<event>[.<action>]`, e.g. `com.github.pull_request.opened`.
 */
export const githubVerifier: WebhookVerifier = {
  provider: 'github',
  signsDeliveryId: false,
  verify({ headers, body, secrets }) {
    if (secrets.length === 0) return refuse('no_secrets');
    const value = header(headers, 'x-hub-signature-256');
    if (value === undefined) return refuse('missing_signature');
    if (value === null) return refuse('malformed_signature');
    const hex = value.trim();
    if (!hex.startsWith('sha256=')) return refuse('malformed_signature');
    const digest = hex.slice('sha256='.length);
    if (digest.length !== 64 || !HEX.test(digest)) return refuse('malformed_signature');
    const expected = secrets.map((s) => createHmac('sha256', s).update(body).digest());
    if (!anyEqual(expected, [Buffer.from(digest, 'hex')])) return refuse('signature_mismatch');

    const event = header(headers, 'x-github-event');
    const action = jsonObject(body)?.action;
    const name = typeof event === 'string' && typeof action === 'string' ? `${event}.${action}` : event;
    return verified({ deliveryId: header(headers, 'x-github-delivery'), prefix: 'com.github.', name });
  },
};
