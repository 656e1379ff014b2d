import { createHmac } from 'node:crypto';
import { anyEqual, BASE64, checkTimestamp, header, jsonObject, refuse, verified } from './verify-util.js';
import type { WebhookVerifier } from './webhook-verifier.js';

const SECRET_PREFIX = 'whsec_';

/** The signing key of a `whsec_<base64>` secret (the prefix is optional, as in the reference library). */
const keyOf = (secret: string): Buffer =>
  Buffer.from(secret.startsWith(SECRET_PREFIX) ? secret.slice(SECRET_PREFIX.length) : secret, 'base64');

/**
 * Standard Webhooks (and Svix, its origin): `webhook-id`, `webhook-timestamp` (Unix seconds) and
 * `webhook-signature` — a space-separated list of `v1,<base64 HMAC-SHA256 of "<id>.<timestamp>.<body>">`,
 * one per live secret — or the same three as `svix-*`; 300 s tolerance; secrets `whsec_<base64 key>`
 * (https://github.com/standard-webhooks/standard-webhooks/blob/main/spec/standard-webhooks.md#verifying-webhook-authenticity).
 * Asymmetric `v1a` signatures are not supported and are ignored. The CloudEvents type is the payload's
 * own `type` (the spec's payload structure), else `webhook.received`.
 */
export const standardWebhooksVerifier: WebhookVerifier = {
  provider: 'standard-webhooks',
  signsDeliveryId: true,
  verify({ headers, body, secrets, nowMs, toleranceS }) {
    if (secrets.length === 0) return refuse('no_secrets');
    // One coherent set: the unbranded headers when a signature is there, else the svix-branded ones.
    const brand = header(headers, 'webhook-signature') === undefined ? 'svix' : 'webhook';
    const id = header(headers, `${brand}-id`);
    const value = header(headers, `${brand}-signature`);
    if (value === undefined) return refuse('missing_signature');
    if (value === null || id === null || id === undefined) return refuse('malformed_signature');
    const ts = header(headers, `${brand}-timestamp`);
    const stamp = checkTimestamp(ts, nowMs, toleranceS);
    if (!stamp.ok) return refuse(stamp.reason);
    const candidates: Buffer[] = [];
    for (const entry of value.split(' ')) {
      if (!entry.startsWith('v1,')) continue;
      const text = entry.slice(3);
      if (text.length !== 44 || !BASE64.test(text)) return refuse('malformed_signature');
      candidates.push(Buffer.from(text, 'base64'));
    }
    if (candidates.length === 0 || candidates.length > 8) return refuse('malformed_signature');
    const signed = (secret: string) =>
      createHmac('sha256', keyOf(secret)).update(`${id}.${ts}.`).update(body).digest();
    if (!anyEqual(secrets.map(signed), candidates)) return refuse('signature_mismatch');

    const type = jsonObject(body)?.type;
    return verified({
      deliveryId: id,
      prefix: '',
      name: typeof type === 'string' ? type : 'webhook.received',
      time: new Date(stamp.seconds * 1000),
    });
  },
};
