export { type CleanupStack, createCleanupStack } from './cleanup-stack.js';
export { closeHttp, listenHttp } from './http-listen.js';
export { startMeshIdentity } from './mesh-identity.js';
export { type MeshRuntime, startMeshRuntime, startMessageIntegrity } from './mesh-runtime.js';
export { type MetricsServer, startMetricsServer } from './metrics-server.js';
export type { ReadyInfo, ReadyMessage, ServiceContext } from './run-service.js';
export { runService } from './run-service.js';
export { openSharedRedis } from './shared-redis.js';
export { observeSvidExpiry } from './svid-metrics.js';
