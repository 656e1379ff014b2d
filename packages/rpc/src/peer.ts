import type { PeerCertificate } from 'node:tls';
import { parseSpiffeId, spiffeIdFromCertificate } from '@zenmesh/pki';
import type { Peer } from './policy.js';

/** What a per-call peer check answers: ok, or a short reason (the refusal's details) and a log-only detail. */
export type PeerCheck = (
  cert: PeerCertificate | undefined,
) => { ok: true } | { ok: false; reason: string; detail?: string };

/**
 * The caller's SPIFFE identity, read from the client certificate of the TLS session. Undefined when there is
 * none or it is not an X509-SVID: the handshake already proved possession of the key, so the URI SAN is the
 * identity.
 */
export function peerFromCertificate(cert: PeerCertificate | undefined): Peer | undefined {
  if (!cert || !cert.raw) return undefined;
  // Parsing X.509 costs about a millisecond; the same certificate (by its SHA-256 fingerprint, which Node
  // computes over the exact DER) always yields the same identity, so it is parsed once.
  const key = cert.fingerprint256;
  const cached = key ? seen.get(key) : undefined;
  if (cached) return cached;
  const peer = parsePeer(cert);
  if (peer && key) {
    if (seen.size >= MAX_CACHED) seen.clear();
    seen.set(key, peer);
  }
  return peer;
}

/** The same, from a grpc-js server call (`call.getAuthContext()`, grpc-js >= 1.14). */
export const peerFromCall = (call: {
  getAuthContext(): { sslPeerCertificate?: PeerCertificate } | null;
}): Peer | undefined => peerFromCertificate(call.getAuthContext()?.sslPeerCertificate);

const MAX_CACHED = 1024;
const seen = new Map<string, Peer>();

function parsePeer(cert: PeerCertificate): Peer | undefined {
  try {
    const spiffeId = spiffeIdFromCertificate(cert);
    const parsed = parseSpiffeId(spiffeId);
    return Object.freeze({
      spiffeId,
      trustDomain: parsed.trustDomain,
      namespace: parsed.namespace,
      service: parsed.service,
    });
  } catch {
    return undefined;
  }
}
