export { z } from 'zod';
export { commaList, hostPort, httpUrl, positiveInt, postgresUrl, redisUrl } from './env-values.js';
export type { ConfigErrorCode } from './errors.js';
export { ConfigError } from './errors.js';
export { loadConfig } from './load-config.js';
export {
  grpcServerEnv,
  type MeshIdentityEnv,
  type MessageIntegrityEnv,
  meshEnv,
  meshIdentityEnv,
  meshServiceEnv,
  messageIntegrityEnv,
  metricsEnv,
} from './mesh-env.js';
