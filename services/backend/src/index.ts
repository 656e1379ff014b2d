export { type Backend, type BackendOptions, createBackend } from './backend.js';
export { MAX_ATTEMPTS, RETRY_DELAYS_S, retryDelaySeconds } from './backoff.js';
export { type BackendConfig, backendEnv, loadBackendConfig } from './config.js';
export {
  type AttemptRecord,
  isSuccess,
  type LeasedDeliveryRecord,
  type LeaseOptions,
  leaseDeliveries,
  listAttempts,
  listDeliveries,
  type ReportAttemptInput,
  reportAttempt,
} from './deliveries.js';
export { type CreateEndpointInput, createEndpoint, listEndpoints } from './endpoints.js';
export { BackendError, type BackendErrorCode } from './errors.js';
export { listEvents, type RecordEventInput, type RecordEventResult, recordEvent } from './events.js';
export { type BackendDeps, registerBackend } from './handlers.js';
export { CORE_MIGRATION_SCOPE, CORE_MIGRATIONS } from './migrations.js';
export type {
  DeliveryRecord,
  DeliveryStateName,
  EndpointRecord,
  EventRecord,
  GenericHmacConfig,
  SourceRecord,
  TenantRecord,
} from './records.js';
export { createSecretBoxes, newSigningSecret, type SecretBoxes } from './secrets.js';
export {
  type CreateSourceInput,
  createSource,
  GENERIC_DEFAULTS,
  listSources,
  resolveSource,
} from './sources.js';
export { createTenant, listTenants, resolveTenant } from './tenants.js';
