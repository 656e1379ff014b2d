export { type EgressEnv, egressEnv, targetOptions } from './config.js';
export type { AttemptResult, DeliverOptions } from './deliver.js';
export { deliver, deliveryHeaders, deliveryRequest, structuredEvent } from './deliver.js';
export type { DeliveriesClient, DeliveryEngine, DeliveryEngineOptions } from './delivery-engine.js';
export { createDeliveryEngine } from './delivery-engine.js';
export { createEgressService } from './egress-service.js';
export { parseRetryAfter } from './retry-after.js';
export { createTargetAgents, type TargetAgents, type TargetAgentsOptions } from './target-agents.js';
export {
  type AddressCheck,
  createAddressCheck,
  STRICT_TARGET_POLICY,
  type TargetPolicy,
  TargetRefusedError,
} from './target-policy.js';
export { SigningSecretError, signWebhook } from './webhook-signature.js';
