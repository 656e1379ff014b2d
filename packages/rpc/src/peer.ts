import type { PeerCertificate } from 'node:tls';
import { parseSpiffeId, spiffeIdFromCertificate } from '@zenmesh/pki';
import type { Peer } from './policy.js';

/**
 * The caller's SPIFFE identity, read from the client certificate of the TLS session
 * (`call.getAuthContext()`, grpc-js >= 1.14). Undefined when there is none or it is not an X509-SVID:
 * the handshake already proved possession of the key, so the URI SAN is the identity.
 */
export function peerFromCall(call: {
  getAuthContext(): { sslPeerCertificate?: PeerCertificate } | null;
}): Peer | undefined {
  const cert = call.getAuthContext()?.sslPeerCertificate;
  if (!cert || !cert.raw) return undefined;
  try {
    const spiffeId = spiffeIdFromCertificate(cert);
    const parsed = parseSpiffeId(spiffeId);
    return {
      spiffeId,
      trustDomain: parsed.trustDomain,
      namespace: parsed.namespace,
      service: parsed.service,
    };
  } catch {
    return undefined;
  }
}
