export { createCaServiceImpl } from './ca-grpc.js';
export type { CaServiceOptions, RunningCaService } from './ca-service.js';
export { startCaService } from './ca-service.js';
export type { CaErrorCode } from './errors.js';
export { CaError } from './errors.js';
export { loadTrustBundle, parseTrustBundle } from './trust-bundle.js';
