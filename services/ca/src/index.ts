export { type AuditAction, type AuditEntry, type AuditLog, openAuditLog } from './audit-log.js';
export { type CaCore, type CaCoreOptions, type CaEvent, createCaCore, type IssuedResult } from './ca-core.js';
export { createCaServiceImpl } from './ca-grpc.js';
export type { CaServiceOptions, RunningCaService } from './ca-service.js';
export { startCaService } from './ca-service.js';
export type { AuthorityRecord, AuthorityState, RotationRecord, SvidRecord } from './ca-state.js';
export { type CaEnv, caEnv } from './config.js';
export { type ConfinedDir, openConfinedDir } from './confined-dir.js';
export type { CaErrorCode } from './errors.js';
export { CaError } from './errors.js';
export { JOIN_PATH } from './join-listener.js';
export { createMtlsProbe } from './probe.js';
export {
  createRotationController,
  type RotationController,
  type RotationOptions,
  type RotationProbe,
} from './rotation.js';
export { loadTrustBundle, parseTrustBundle } from './trust-bundle.js';
