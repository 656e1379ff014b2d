export { IdentityError, type IdentityErrorCode } from './errors.js';
export { joinTrustDomain } from './join-client.js';
export {
  DEFAULT_JOIN_TOKEN_TTL_SECONDS,
  type JoinTokenClaims,
  mintJoinToken,
  verifyJoinToken,
} from './join-token.js';
export { createPeerGuard, type PeerGuard, type PeerRefusalReason, type PeerVerdict } from './peer-guard.js';
export { createRevocationList, type RevocationList } from './revocation-list.js';
export {
  connectionAgeFor,
  type ServiceIdentity,
  type ServiceIdentityOptions,
  startServiceIdentity,
} from './service-identity.js';
export { readSvidFiles, type SvidFilePaths, writeSvidFiles } from './svid-files.js';
export {
  type SvidState,
  startWorkloadIdentity,
  type WorkloadIdentity,
  type WorkloadIdentityOptions,
} from './workload-identity.js';
