export type {
  AccessTokenAlgorithm,
  AccessTokenClaims,
  AccessTokenVerifier,
  AccessTokenVerifierOptions,
  Principal,
  RevocationCheck,
} from './access-token-verifier.js';
export {
  ACCESS_TOKEN_ALGORITHMS,
  ACCESS_TOKEN_TYP,
  createAccessTokenVerifier,
} from './access-token-verifier.js';
export type { AuthErrorCode } from './errors.js';
export { AuthError, isAuthError } from './errors.js';
export type { ForwardedTokenAuthorizer, MetadataSource } from './forwarded-token.js';
export { bearerCredential, createForwardedTokenAuthorizer, mayActOnTenant } from './forwarded-token.js';
export type { IntrospectionRevocationOptions } from './revocation-check.js';
export { createIntrospectionRevocationCheck } from './revocation-check.js';
export type { Role, Scope } from './scopes.js';
export {
  hasScopes,
  isRole,
  isScope,
  OIDC_SCOPES,
  parseScope,
  ROLE_SCOPES,
  ROLES,
  roleAtLeast,
  SCOPES,
} from './scopes.js';
