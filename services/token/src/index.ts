// The token service's door: what its main.ts and whole-mesh tests need.
export { generateApiKey, hashApiKey } from './api-key.js';
export type { ApiKeyStore } from './api-key-store.js';
export { type TokenEnv, tokenEnv } from './config.js';
export type { TokenErrorCode } from './errors.js';
export { OAuthError, TokenError } from './errors.js';
// The schema, for `zenmesh init database` (compose/Kubernetes run migrations as a job).
export { TOKEN_MIGRATIONS, TOKEN_SCHEMA } from './migrations.js';
export { TOKEN_SEALING_PURPOSE } from './oauth-server.js';
export { createApiKeyVerifier } from './token-grpc.js';
export type { RunningTokenService, TokenServiceOptions } from './token-service.js';
export { openTokenStore, startTokenService } from './token-service.js';
