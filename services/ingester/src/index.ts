export type { CloudEventJson, StoredEvent } from './cloud-event.js';
export { toCloudEvent } from './cloud-event.js';
export { type IngesterEnv, ingesterEnv } from './config.js';
export type { Claim, DedupStore, DedupStoreOptions } from './dedup-store.js';
export { createDedupStore } from './dedup-store.js';
export type { GenericHmacSettings, GenericScheme, SignatureCheck } from './generic-hmac.js';
export { createGenericVerifier, resolveScheme, verifyGenericHmac } from './generic-hmac.js';
export type { EgressClient, EventsClient, Ingester, IngesterOptions } from './ingester-app.js';
export { createIngester } from './ingester-app.js';
export type { HealthClient } from './peer-health.js';
export { createPeerHealth } from './peer-health.js';
export { githubVerifier } from './provider-github.js';
export { gitlabVerifier } from './provider-gitlab.js';
export { shopifyVerifier } from './provider-shopify.js';
export { slackVerifier } from './provider-slack.js';
export { standardWebhooksVerifier } from './provider-standard-webhooks.js';
export { stripeVerifier } from './provider-stripe.js';
export { resolveVerifier } from './providers.js';
export type { RefusalCounter } from './refusal-counter.js';
export type { ResolvedSource, SourceCache, SourcesClient } from './source-cache.js';
export { createSourceCache } from './source-cache.js';
export type {
  PayloadRefusal,
  SignatureRefusal,
  Verification,
  VerifiedWebhook,
  VerifyInput,
  WebhookVerifier,
} from './webhook-verifier.js';
