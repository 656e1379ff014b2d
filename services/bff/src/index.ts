// The bff's door: what its main.ts and whole-mesh tests need.
export type { BackendClients } from './backend-clients.js';
export { type BffEnv, bffEnv } from './config.js';
export {
  CONSOLE_SCOPE,
  type ConsoleSettings,
  type ConsoleSetup,
  createConsoleSetup,
  createMemorySessionStore,
  createRedisSessionStore,
  fileClient,
  staticClient,
} from './console/index.js';
export type { BffApp, BffAppOptions } from './http-app.js';
export { createBffApp } from './http-app.js';
export type { TokenAuthOptions, TokenServiceClient } from './token-wiring.js';
export { createTokenAuth } from './token-wiring.js';
