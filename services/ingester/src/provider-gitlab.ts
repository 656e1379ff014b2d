import { equalSecret, header, refuse, verified } from './verify-util.js';
import type { WebhookVerifier } from './webhook-verifier.js';

/**
 * GitLab: the secret token is sent as is in `X-Gitlab-Token` (no signature over the body), so it is
 * compared in constant time, through digests so its length does not leak either
 * (https://docs.gitlab.com/user/project/integrations/webhooks/#validate-payloads-by-using-a-secret-token).
 * Delivery id: `Idempotency-Key` (same on every retry, GitLab ≥ 17.4), else `X-Gitlab-Event-UUID`
 * (https://docs.gitlab.com/user/project/integrations/webhooks/#delivery-headers). Event `X-Gitlab-Event`
 * such as `Push Hook`; CloudEvents type `com.gitlab.<event, lower-case, " Hook" dropped, spaces as _>`,
 * e.g. `com.gitlab.push`, `com.gitlab.merge_request`.
 */
export const gitlabVerifier: WebhookVerifier = {
  provider: 'gitlab',
  signsDeliveryId: false,
  verify({ headers, secrets }) {
    if (secrets.length === 0) return refuse('no_secrets');
    const token = header(headers, 'x-gitlab-token');
    if (token === undefined) return refuse('missing_signature');
    if (token === null) return refuse('malformed_signature');
    let matched = false;
    for (const secret of secrets) if (equalSecret(token, secret)) matched = true;
    if (!matched) return refuse('signature_mismatch');

    const event = header(headers, 'x-gitlab-event');
    const name =
      typeof event === 'string'
        ? event
            .trim()
            .replace(/ Hook$/i, '')
            .toLowerCase()
            .replace(/\s+/g, '_')
        : event;
    const key = header(headers, 'idempotency-key');
    return verified({
      deliveryId: key === undefined ? header(headers, 'x-gitlab-event-uuid') : key,
      prefix: 'com.gitlab.',
      name,
    });
  },
};
