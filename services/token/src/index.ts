export type { AccessTokens, MintedToken, MintInput } from './access-tokens.js';
export { createAccessTokens } from './access-tokens.js';
export type {
  AccountActor,
  AccountAudit,
  AccountAuditEntry,
  AccountAuditStatus,
  AccountChange,
} from './account-audit.js';
export { accountAuditHash, createAccountAudit } from './account-audit.js';
export { outranks, principalRole } from './account-rank.js';
export { API_KEY_PREFIX, generateApiKey, hashApiKey, isWellFormedApiKey } from './api-key.js';
export type { ApiKeyRecord, ApiKeyStore, ApiKeyVerdict, CreateApiKeyInput } from './api-key-store.js';
export { BOOTSTRAP_ADMIN_NAME, createApiKeyStore } from './api-key-store.js';
export type { ClientAuthMethod, ClientStore, CreateClientInput, GrantType, OAuthClient } from './clients.js';
export { createClientStore } from './clients.js';
export type { EnrollmentLink, EnrollmentLinks } from './enrollment-links.js';
export { createEnrollmentLinks, ENROLLMENT_PATH } from './enrollment-links.js';
export type { TokenErrorCode } from './errors.js';
export { OAuthError, TokenError } from './errors.js';
export type { Grants, TokenResponse } from './grants.js';
export type { HttpRouter, TokenHttpServer } from './http-server.js';
export { createTokenHttpServer } from './http-server.js';
export type { KnownDevices } from './known-devices.js';
export { createKnownDevices, DEVICE_COOKIE } from './known-devices.js';
export type { BackoffPolicy, BackoffVerdict, LoginBackoff } from './login-backoff.js';
export { createLoginBackoff, DEFAULT_BACKOFF, lockSeconds, OPEN_LANE } from './login-backoff.js';
export { TOKEN_MIGRATIONS, TOKEN_SCHEMA } from './migrations.js';
export type { IntrospectionAnswer, IntrospectionCaller } from './oauth-endpoints.js';
export { introspectToken, PATHS as OAUTH_PATHS } from './oauth-endpoints.js';
export type { OAuthConfig, OAuthServer } from './oauth-server.js';
export { createOAuthServer, DEFAULT_AUDIENCE, MAX_ACCESS_TOKEN_TTL_SEC } from './oauth-server.js';
export type { RateLimitDecision, RateLimiter } from './rate-limit.js';
export { clientIp, createRateLimiter } from './rate-limit.js';
export type { RefreshOutcome, SecurityEvent, SessionRecord, SessionStore } from './sessions.js';
export { createSessionStore, REFRESH_TOKEN_PREFIX } from './sessions.js';
export type { SigningAlg, SigningKeyInfo, SigningKeyRing, SigningKeyState } from './signing-keys.js';
export { openSigningKeyRing, SIGNING_ALGS, SIGNING_KEYS_FILE } from './signing-keys.js';
export type { TokenGrpcOAuth, VerifyApiKeyAnswer } from './token-grpc.js';
export { createApiKeyVerifier, createTokenServiceImpl, toVerifyApiKeyAnswer } from './token-grpc.js';
export type { RunningTokenService, TokenServiceOptions } from './token-service.js';
export { openTokenStore, startTokenService } from './token-service.js';
export type { LoginResult, TotpEnrollment, UserRecord, UserStore } from './users.js';
export { createUserStore, RECOVERY_CODE_COUNT } from './users.js';
