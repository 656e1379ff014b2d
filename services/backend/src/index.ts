export {
  type AuditActor,
  type AuditChange,
  type AuditEntryRecord,
  appendAudit,
  auditRowHash,
  GENESIS_HASH,
  SYSTEM_ACTOR,
} from './audit.js';
export { type AuditBreak, type AuditChainStatus, listAudit, verifyAudit } from './audit-verify.js';
export { type Backend, type BackendOptions, createBackend } from './backend.js';
export { MAX_ATTEMPTS, RETRY_DELAYS_S, retryDelaySeconds } from './backoff.js';
export { type BackendEnv, backendEnv, loadBackendConfig } from './config.js';
export { APP_ROLE, OWNER_ROLE } from './db-roles.js';
export { type AttemptRecord, listAttempts, listDeliveries } from './deliveries.js';
export { type LeasedDeliveryRecord, type LeaseOptions, leaseDeliveries } from './delivery-lease.js';
export { type ReportAttemptInput, type ReportOptions, reportAttempt } from './delivery-report.js';
export {
  ACTIVE_STATES,
  canTransition,
  DELIVERY_STATES,
  type DeliveryStateName,
  isSuccess,
  nextStateAfterAttempt,
  TRANSITIONS,
} from './delivery-state.js';
export { DEFAULT_ENDPOINT_HEALTH, type EndpointHealthPolicy } from './endpoint-health.js';
export {
  type CreateEndpointInput,
  createEndpoint,
  DEFAULT_MAX_CONCURRENCY,
  listEndpoints,
  rotateEndpointSecret,
  type UpdateEndpointInput,
  updateEndpoint,
} from './endpoints.js';
export { BackendError, type BackendErrorCode } from './errors.js';
export { listEvents, type RecordEventInput, type RecordEventResult, recordEvent } from './events.js';
export { type BackendDeps, RPC_SCOPES, registerBackend } from './handlers.js';
export { CORE_MIGRATION_SCOPE, CORE_MIGRATIONS } from './migrations.js';
export type {
  CloudEventsMode,
  DeliveryRecord,
  DisabledReason,
  EndpointRecord,
  EventRecord,
  SourceRecord,
  TenantRecord,
} from './records.js';
export { type ReplayResult, replayDelivery, replayEndpoint, replayEvent } from './replay.js';
export { createSecretBoxes, newSigningSecret, type SecretBoxes } from './secrets.js';
export {
  type CreateSourceInput,
  createSource,
  listSources,
  normaliseGeneric,
  type RotateSourceSecretInput,
  resolveSource,
  rotateSourceSecret,
  validateSourceSecret,
} from './sources.js';
export { createTenant, listTenants, resolveTenant } from './tenants.js';
export { auditActor, type CallUser, createUserGuard, type UserGuard } from './user-auth.js';
