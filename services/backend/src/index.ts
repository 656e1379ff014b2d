// The backend's door: what its main.ts, whole-mesh tests and benchmarks need (the store functions below seed
// data without going through gRPC in bench/ingest.bench.mjs).
export { type Backend, type BackendOptions, createBackend } from './backend.js';
export { type BackendEnv, backendEnv, loadBackendConfig } from './config.js';
// The schema and its owner role, for `zenmesh init database` (compose/Kubernetes run migrations as a job).
export { OWNER_ROLE } from './db-roles.js';
export type { DeliveryStateName } from './delivery-state.js';
export { BackendError, type BackendErrorCode } from './errors.js';
export { CORE_MIGRATION_SCOPE, CORE_MIGRATIONS } from './migrations.js';
export { BACKEND_SEALING_PURPOSES, createSecretBoxes, type SecretBoxes } from './secrets.js';
export { createSource } from './sources.js';
export { createTenant } from './tenants.js';
