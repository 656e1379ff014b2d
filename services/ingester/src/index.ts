export type { GenericScheme, SignatureCheck, SignatureRefusal } from './generic-hmac.js';
export { resolveScheme, verifyGenericHmac } from './generic-hmac.js';
export type { EgressClient, EventsClient, Ingester, IngesterOptions } from './ingester-app.js';
export { createIngester } from './ingester-app.js';
export type { HealthClient } from './peer-health.js';
export { createPeerHealth } from './peer-health.js';
export type { RefusalCounter } from './refusal-counter.js';
export type { ResolvedSource, SourceCache, SourcesClient } from './source-cache.js';
export { createSourceCache } from './source-cache.js';
