export type { TokenAccountClient } from './account-routes.js';
export { createAccountRoutes, oauthClientJson, userJson } from './account-routes.js';
export type { TokenAdminClient } from './admin-routes.js';
export { apiKeyJson, createAdminRoutes } from './admin-routes.js';
export type { ApiErrorResponse } from './api-errors.js';
export { ApiRefusal, toApiError } from './api-errors.js';
export type { ApiCaller, ApiKeyVerification, CachedVerifierOptions, VerifyApiKey } from './api-key-auth.js';
export { bearerToken, createCachedApiKeyVerifier, MAX_AUTH_CACHE_MS } from './api-key-auth.js';
export type { AuditClient, BackendClients } from './backend-clients.js';
export type { AuthenticatedCaller, CallerAuthOptions, ExchangeApiKey } from './caller-auth.js';
export { createCallerAuth } from './caller-auth.js';
export { type BffEnv, bffEnv } from './config.js';
export type { BffApp, BffAppOptions } from './http-app.js';
export { createBffApp } from './http-app.js';
export { MAX_BODY_BYTES } from './json-body.js';
export type {
  AttemptJson,
  AuditChainJson,
  AuditEntryJson,
  DeliveryJson,
  EndpointJson,
  EventJson,
  ReplayJson,
  SourceJson,
  TenantJson,
} from './json-mappers.js';
export {
  attemptJson,
  auditChainJson,
  auditEntryJson,
  deliveryJson,
  endpointJson,
  eventJson,
  replayJson,
  sourceJson,
  tenantJson,
} from './json-mappers.js';
export type { TokenAuthOptions, TokenServiceClient } from './token-wiring.js';
export { createTokenAuth } from './token-wiring.js';
