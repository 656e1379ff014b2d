import type { PeerCertificate } from 'node:tls';
import { checkSvidProfile } from '@zenmesh/pki';
import type { RevocationList } from './revocation-list.js';

export type PeerRefusalReason =
  | 'no_peer_certificate'
  | 'svid_malformed'
  | 'foreign_trust_domain'
  | 'svid_expired'
  | 'svid_not_yet_valid'
  | 'svid_revoked';

export type PeerVerdict =
  | { ok: true; spiffeId: string; serial: string }
  | { ok: false; reason: PeerRefusalReason; detail: string };

/**
 * The per-call check every verifier runs on its peer's certificate, on top of the TLS handshake (which already
 * checked the chain to the bundle, its pathLen and name constraints, and the dates at that moment): the
 * X509-SVID profile (one URI SAN with a path, CA=false, no keyCertSign/cRLSign, both EKUs), the trust domain,
 * the certificate's own notBefore/notAfter against the clock, and the revocation list. It runs per call, not
 * per handshake, so a certificate that expires or is revoked while its connection stays open is refused on
 * that connection's next call.
 */
export interface PeerGuard {
  verify(cert: PeerCertificate | string | null | undefined): PeerVerdict;
  /**
   * For a gRPC client's `checkServerIdentity`: undefined when the server presents `expectedSpiffeId` with a
   * sound, unrevoked SVID; otherwise an Error naming the reason.
   */
  checkServerIdentity(expectedSpiffeId: string): (host: string, cert: PeerCertificate) => Error | undefined;
}

const pemOf = (raw: Buffer) =>
  `-----BEGIN CERTIFICATE-----\n${raw.toString('base64')}\n-----END CERTIFICATE-----\n`;

const MAX_CACHED = 1024;

type Profile =
  | { ok: true; spiffeId: string; serial: string; notBefore: Date; notAfter: Date }
  | { ok: false; reason: PeerRefusalReason; detail: string };

export function createPeerGuard(opts: {
  trustDomain: string;
  revocations: Pick<RevocationList, 'isRevoked'>;
  /** The clock the certificate's validity window is judged by; injected so tests can freeze it. */
  now?: () => Date;
}): PeerGuard {
  const now = opts.now ?? (() => new Date());
  // The profile of a certificate never changes: parse each one once (keyed by the SHA-256 Node computes over
  // the exact DER) and look only the clock and the revocation list up per call.
  const profiles = new Map<string, Profile>();
  const profileOf = (pem: string): Profile => {
    try {
      return { ok: true, ...checkSvidProfile(pem, { trustDomain: opts.trustDomain }) };
    } catch (err) {
      const code = (err as { code?: string }).code;
      return {
        ok: false,
        reason: code === 'ERR_SVID_TRUST_DOMAIN' ? 'foreign_trust_domain' : 'svid_malformed',
        detail: `${code ?? 'ERR'}: ${(err as Error).message}`,
      };
    }
  };
  const verify = (cert: PeerCertificate | string | null | undefined): PeerVerdict => {
    const pem = typeof cert === 'string' ? cert : cert?.raw ? pemOf(cert.raw) : undefined;
    if (!pem)
      return { ok: false, reason: 'no_peer_certificate', detail: 'the peer presented no certificate' };
    const key = typeof cert === 'string' ? undefined : cert?.fingerprint256;
    let svid = key ? profiles.get(key) : undefined;
    if (!svid) {
      svid = profileOf(pem);
      if (key) {
        if (profiles.size >= MAX_CACHED) profiles.clear();
        profiles.set(key, svid);
      }
    }
    if (!svid.ok) return svid;
    const at = now();
    if (at < svid.notBefore) {
      return {
        ok: false,
        reason: 'svid_not_yet_valid',
        detail: `${svid.spiffeId} serial ${svid.serial} is not valid before ${svid.notBefore.toISOString()}`,
      };
    }
    if (at > svid.notAfter) {
      return {
        ok: false,
        reason: 'svid_expired',
        detail: `${svid.spiffeId} serial ${svid.serial} expired at ${svid.notAfter.toISOString()}`,
      };
    }
    if (opts.revocations.isRevoked(svid.serial)) {
      return {
        ok: false,
        reason: 'svid_revoked',
        detail: `${svid.spiffeId} serial ${svid.serial} is revoked`,
      };
    }
    return { ok: true, spiffeId: svid.spiffeId, serial: svid.serial };
  };
  return {
    verify,
    checkServerIdentity: (expected) => (_host, cert) => {
      const verdict = verify(cert);
      if (!verdict.ok) return new Error(`${verdict.reason}: ${verdict.detail}`);
      if (verdict.spiffeId !== expected)
        return new Error(`server SPIFFE ID ${verdict.spiffeId} is not the expected ${expected}`);
      return undefined;
    },
  };
}
