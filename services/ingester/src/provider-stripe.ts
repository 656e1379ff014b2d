import { createHmac } from 'node:crypto';
import {
  anyEqual,
  checkTimestamp,
  HEX,
  header,
  invalid,
  jsonObject,
  refuse,
  verified,
} from './verify-util.js';
import type { WebhookVerifier } from './webhook-verifier.js';

/**
 * Stripe: `Stripe-Signature: t=<unix s>,v1=<hex>[,v1=<hex>…]`, each v1 an HMAC-SHA256 of `<t>.<body>`
 * keyed with the endpoint's `whsec_…` secret as text; other schemes (v0) are ignored; 300 s tolerance
 * (https://docs.stripe.com/webhooks#verify-manually). Stripe sends no delivery-id header: the event id
 * and type come from the verified JSON body (`id`, `type`, `created`). A retry carries the same event id.
 * CloudEvents type `com.stripe.<type>`, e.g. `com.stripe.payment_intent.succeeded`.
 */
export const stripeVerifier: WebhookVerifier = {
  provider: 'stripe',
  signsDeliveryId: true,
  verify({ headers, body, secrets, nowMs, toleranceS }) {
    if (secrets.length === 0) return refuse('no_secrets');
    const value = header(headers, 'stripe-signature');
    if (value === undefined) return refuse('missing_signature');
    if (value === null) return refuse('malformed_signature');
    let t: string | undefined;
    const v1: Buffer[] = [];
    for (const part of value.split(',')) {
      const at = part.indexOf('=');
      if (at <= 0) return refuse('malformed_signature');
      const key = part.slice(0, at).trim();
      const text = part.slice(at + 1).trim();
      if (key === 't') {
        if (t !== undefined) return refuse('malformed_signature');
        t = text;
      } else if (key === 'v1') {
        if (text.length !== 64 || !HEX.test(text)) return refuse('malformed_signature');
        v1.push(Buffer.from(text, 'hex'));
      }
    }
    if (v1.length === 0 || v1.length > 8) return refuse('malformed_signature');
    const stamp = checkTimestamp(t, nowMs, toleranceS);
    if (!stamp.ok) return refuse(stamp.reason);
    const signed = (secret: string) => createHmac('sha256', secret).update(`${t}.`).update(body).digest();
    if (!anyEqual(secrets.map(signed), v1)) return refuse('signature_mismatch');

    const event = jsonObject(body);
    if (event === undefined || typeof event.id !== 'string' || typeof event.type !== 'string') {
      return invalid('invalid_payload');
    }
    const created = typeof event.created === 'number' ? new Date(event.created * 1000) : undefined;
    return verified({
      deliveryId: event.id,
      prefix: 'com.stripe.',
      name: event.type,
      time: created !== undefined && Number.isFinite(created.getTime()) ? created : undefined,
    });
  },
};
