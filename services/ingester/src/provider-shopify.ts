import { createHmac } from 'node:crypto';
import { anyEqual, BASE64, header, refuse, verified } from './verify-util.js';
import type { WebhookVerifier } from './webhook-verifier.js';

/**
 * Shopify: `X-Shopify-Hmac-Sha256: <base64 HMAC-SHA256 of the body>` keyed with the app's client secret,
 * delivery id `X-Shopify-Webhook-Id`, topic `X-Shopify-Topic` such as `orders/create`
 * (https://shopify.dev/docs/apps/build/webhooks/subscribe/https#step-2-validate-the-origin-of-your-webhook-to-ensure-its-coming-from-shopify).
 * No timestamp is signed. CloudEvents type `com.shopify.<topic with / as .>`, e.g. `com.shopify.orders.create`.
 */
export const shopifyVerifier: WebhookVerifier = {
  provider: 'shopify',
  signsDeliveryId: false,
  verify({ headers, body, secrets }) {
    if (secrets.length === 0) return refuse('no_secrets');
    const value = header(headers, 'x-shopify-hmac-sha256');
    if (value === undefined) return refuse('missing_signature');
    if (value === null) return refuse('malformed_signature');
    const text = value.trim();
    if (text.length !== 44 || !BASE64.test(text)) return refuse('malformed_signature');
    const expected = secrets.map((s) => createHmac('sha256', s).update(body).digest());
    if (!anyEqual(expected, [Buffer.from(text, 'base64')])) return refuse('signature_mismatch');

    const topic = header(headers, 'x-shopify-topic');
    return verified({
      deliveryId: header(headers, 'x-shopify-webhook-id'),
      prefix: 'com.shopify.',
      name: typeof topic === 'string' ? topic.replaceAll('/', '.') : topic,
    });
  },
};
