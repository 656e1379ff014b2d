export { z } from 'zod';
export type { ConfigErrorCode } from './errors.js';
export { ConfigError } from './errors.js';
export { grpcServerEnv, hostPort, httpUrl, loadConfig, meshEnv, positiveInt } from './load-config.js';
export type { ReadyInfo, ReadyMessage, RunningService } from './run-service.js';
export { runService } from './run-service.js';
