// The CA's door: what its main.ts and whole-mesh tests need. Everything else is the service's own business.

// `zenmesh init` creates the trust domain's CA offline, exactly as the service would on its first start.
export { createCaCore } from './ca-core.js';
export type { CaServiceOptions, RunningCaService } from './ca-service.js';
export { startCaService } from './ca-service.js';
export type { CaCore } from './ca-types.js';
export { type CaEnv, caEnv } from './config.js';
export { type ConfinedDir, openConfinedDir } from './confined-dir.js';
export type { CaErrorCode } from './errors.js';
export { CaError } from './errors.js';
