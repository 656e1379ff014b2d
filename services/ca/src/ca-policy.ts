import type { PolicyTable } from '@zenmesh/rpc';

/**
 * The CaService rows of the mesh policy table (packages/rpc MESH_POLICY must hold exactly these). Workload
 * methods are open to every mesh identity because each acts only on the caller's own SPIFFE ID; the operator
 * methods are for `sa/cli` alone. Join is not here: it is served on the join listener, not over mTLS.
 */
export const CA_POLICY: PolicyTable = {
  'zenmesh.v1.CaService/GetTrustBundle': ['*'],
  'zenmesh.v1.CaService/Renew': ['*'],
  'zenmesh.v1.CaService/WatchTrustBundle': ['*'],
  'zenmesh.v1.CaService/AckTrustBundle': ['*'],
  'zenmesh.v1.CaService/WatchRevocations': ['*'],
  'zenmesh.v1.CaService/Status': ['cli'],
  'zenmesh.v1.CaService/Rotate': ['cli'],
  'zenmesh.v1.CaService/AbortRotation': ['cli'],
  'zenmesh.v1.CaService/Revoke': ['cli'],
};
