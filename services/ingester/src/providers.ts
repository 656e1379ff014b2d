import type { ProviderName } from '@zenmesh/providers';
import { createGenericVerifier, type GenericHmacSettings, resolveScheme } from './generic-hmac.js';
import { githubVerifier } from './provider-github.js';
import { gitlabVerifier } from './provider-gitlab.js';
import { shopifyVerifier } from './provider-shopify.js';
import { slackVerifier } from './provider-slack.js';
import { standardWebhooksVerifier } from './provider-standard-webhooks.js';
import { stripeVerifier } from './provider-stripe.js';
import type { WebhookVerifier } from './webhook-verifier.js';

// Typed over the registry: a provider added to @zenmesh/providers without a verifier here does not compile.
const FIXED: Record<Exclude<ProviderName, 'generic'>, WebhookVerifier> = {
  github: githubVerifier,
  stripe: stripeVerifier,
  slack: slackVerifier,
  shopify: shopifyVerifier,
  gitlab: gitlabVerifier,
  'standard-webhooks': standardWebhooksVerifier,
  svix: standardWebhooksVerifier,
};

/** The verifier for a source, or undefined when its provider (or generic config) is not supported. */
export function resolveVerifier(source: {
  provider: string;
  generic?: GenericHmacSettings | undefined;
}): WebhookVerifier | undefined {
  if (source.provider === 'generic') {
    const scheme = resolveScheme(source.generic);
    return scheme === undefined ? undefined : createGenericVerifier(scheme);
  }
  return Object.hasOwn(FIXED, source.provider) ? FIXED[source.provider as keyof typeof FIXED] : undefined;
}
