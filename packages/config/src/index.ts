// The identity agent, for processes that depend on this package and run one (services, the launcher).
export {
  joinTrustDomain,
  type ServiceIdentity,
  type ServiceIdentityOptions,
  startServiceIdentity,
} from '@zenmesh/identity';
export { z } from 'zod';
export type { ConfigErrorCode } from './errors.js';
export { ConfigError } from './errors.js';
export { closeHttp, listenHttp } from './http-listen.js';
export {
  grpcServerEnv,
  hostPort,
  httpUrl,
  loadConfig,
  meshEnv,
  messageIntegrityEnv,
  positiveInt,
  redisUrl,
} from './load-config.js';
export { type MeshIdentityEnv, meshIdentityEnv, startMeshIdentity } from './mesh-identity.js';
export {
  type MeshRuntime,
  type MessageIntegrityEnv,
  startMeshRuntime,
  startMessageIntegrity,
} from './mesh-runtime.js';
export type { ReadyInfo, ReadyMessage, RunningService } from './run-service.js';
export { runService } from './run-service.js';
