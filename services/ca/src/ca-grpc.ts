import type { CaService } from '@zenmesh/proto';
import type { ServiceImpl } from '@zenmesh/rpc';

/**
 * The CaService handlers. Only GetTrustBundle for now; issuance, renewal, rotation and revocation arrive
 * with the identity issue. Who may call (any mesh workload) is the mesh policy table's business.
 */
export function createCaServiceImpl(options: {
  trustDomain: string;
  /** The current bundle; a function so a future rotation can swap it without re-registering. */
  bundle: () => readonly string[];
}): ServiceImpl<(typeof CaService)['method']> {
  return {
    async getTrustBundle() {
      return { trustDomain: options.trustDomain, caCertificatesPem: [...options.bundle()] };
    },
  };
}
