export type { AttemptResult, DeliverOptions } from './deliver.js';
export { deliver, deliveryHeaders } from './deliver.js';
export type { DeliveriesClient, DeliveryEngine, DeliveryEngineOptions } from './delivery-engine.js';
export { createDeliveryEngine } from './delivery-engine.js';
export { createEgressService } from './egress-service.js';
export { parseRetryAfter } from './retry-after.js';
export { SigningSecretError, signWebhook } from './webhook-signature.js';
