import type { PeerCertificate } from 'node:tls';
import { spiffeIdFromCertificate } from '@zenmesh/pki';
import type { PeerCheck } from './peer.js';

/**
 * A channel's `checkServerIdentity`: the server is authenticated by its SPIFFE ID, not its host name — exactly
 * one URI SAN equal to the expected ID (https://github.com/spiffe/spiffe/blob/main/standards/X509-SVID.md#5-validation)
 * — then by the per-call peer check (SVID profile, revocation), when given. An Error refuses the handshake.
 */
export function createServerIdentityCheck(
  expectedServerId: string,
  verifyPeer: PeerCheck | undefined,
): (host: string, cert: PeerCertificate) => Error | undefined {
  return (_host, cert) => {
    try {
      const actual = spiffeIdFromCertificate(cert);
      if (actual !== expectedServerId) {
        return new Error(`server SPIFFE ID ${actual} is not the expected ${expectedServerId}`);
      }
      const verdict = verifyPeer?.(cert);
      if (verdict && !verdict.ok) {
        return new Error(
          `server ${actual} refused: ${verdict.reason}${verdict.detail ? ` (${verdict.detail})` : ''}`,
        );
      }
      return undefined;
    } catch (err) {
      return err instanceof Error ? err : new Error(String(err));
    }
  };
}
