import type { PolicyTable } from '@zenmesh/rpc';

/**
 * The mesh-policy rows for the TokenService methods added by the OAuth issue. They belong in MESH_POLICY
 * (packages/rpc); until the lead adds them there, the token service merges these under MESH_POLICY, which
 * wins wherever it has a row.
 */
export const TOKEN_RPC_POLICY: PolicyTable = {
  'zenmesh.v1.TokenService/VerifyApiKey': ['bff'],
  'zenmesh.v1.TokenService/Introspect': ['bff', 'backend'],
  'zenmesh.v1.TokenService/ExchangeApiKey': ['bff'],
  'zenmesh.v1.TokenService/CreateApiKey': ['bff'],
  'zenmesh.v1.TokenService/ListApiKeys': ['bff'],
  'zenmesh.v1.TokenService/RevokeApiKey': ['bff'],
  'zenmesh.v1.TokenService/RotateSigningKey': ['bff'],
  'zenmesh.v1.TokenService/ListSigningKeys': ['bff'],
};
