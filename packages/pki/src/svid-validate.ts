import type { X509Certificate } from 'node:crypto';
import { checkChainConstraints, type ParsedCertificate } from './chain-constraints.js';
import { PkiError } from './errors.js';
import { fingerprintOf, readCertificate, splitPemCertificates } from './fingerprint.js';
import { uriSansOf } from './san.js';
import { parseSpiffeId, type SpiffeId } from './spiffe-id.js';
import { OID, x509 } from './x509-provider.js';

export interface ValidateSvidOptions {
  /** Trusted CA certificates (PEM; each string may hold several). */
  bundlePems: string[];
  trustDomain: string;
  now?: Date;
  expectedSpiffeId?: string;
}

export interface ValidatedSvid {
  spiffeId: SpiffeId;
  /** Lower-case hex. */
  serial: string;
  notBefore: Date;
  notAfter: Date;
  /** SHA-256 (hex) of the bundle CA the chain ends at: tells which CA generation vouched, during rotation. */
  issuerFingerprint: string;
}

// Extensions a path validator understands; any other extension marked critical must be refused
// (RFC 5280 §4.2: "A certificate-using system MUST reject the certificate if it encounters a critical
// extension it does not recognize").
const UNDERSTOOD = new Set<string>(Object.values(OID));
// Roots plus intermediates; SPIFFE chains are short, and a bound stops a crafted loop.
const MAX_CHAIN_DEPTH = 8;

type Parsed = ParsedCertificate;

function parse(pem: string, what: string): Parsed {
  const node = readCertificate(pem, what);
  let ext: x509.X509Certificate;
  try {
    ext = new x509.X509Certificate(node.raw);
  } catch (cause) {
    throw new PkiError('ERR_CERT_MALFORMED', `${what}: extensions could not be decoded`, { cause });
  }
  const seen = new Set<string>();
  for (const e of ext.extensions) {
    // RFC 5280 §4.2: a certificate MUST NOT include more than one instance of a particular extension.
    if (seen.has(e.type)) throw new PkiError('ERR_CERT_MALFORMED', `${what}: duplicate extension ${e.type}`);
    seen.add(e.type);
    if (e.critical && !UNDERSTOOD.has(e.type)) {
      throw new PkiError('ERR_CERT_MALFORMED', `${what}: unrecognised critical extension ${e.type}`);
    }
  }
  return { node, ext };
}

function validAt(cert: X509Certificate, now: Date): boolean {
  return now >= cert.validFromDate && now <= cert.validToDate;
}

function issuedBy(child: X509Certificate, parent: X509Certificate): boolean {
  // checkIssued compares names and key identifiers; verify() checks the signature over the TBS bytes.
  return child.checkIssued(parent) && child.verify(parent.publicKey);
}

/** A CA may sign when CA=true and, if keyUsage is present, keyCertSign is set (X509-SVID §4.1, §4.3). */
function maySign(cert: Parsed): boolean {
  const bc = cert.ext.getExtension(x509.BasicConstraintsExtension);
  if (!bc?.ca) return false;
  const ku = cert.ext.getExtension(x509.KeyUsagesExtension);
  return ku === null || (ku.usages & x509.KeyUsageFlags.keyCertSign) !== 0;
}

function checkLeafShape(leaf: Parsed): void {
  // X509-SVID §5.2 (leaf validation), together with the issuance rules of §4.1 and §4.3.
  const bc = leaf.ext.getExtension(x509.BasicConstraintsExtension);
  if (bc?.ca || leaf.node.ca) throw new PkiError('ERR_SVID_CA_LEAF', 'leaf SVID has CA=true');
  const ku = leaf.ext.getExtension(x509.KeyUsagesExtension);
  if (!ku) throw new PkiError('ERR_SVID_KEY_USAGE', 'leaf SVID has no keyUsage extension');
  // X509-SVID §4.3: "The key usage extension MUST be set on all SVIDs, and MUST be marked critical."
  if (!ku.critical) throw new PkiError('ERR_SVID_KEY_USAGE', 'leaf SVID keyUsage is not marked critical');
  if (ku.usages & (x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign)) {
    throw new PkiError('ERR_SVID_KEY_USAGE', 'leaf SVID sets keyCertSign or cRLSign');
  }
  if (!(ku.usages & x509.KeyUsageFlags.digitalSignature)) {
    throw new PkiError('ERR_SVID_KEY_USAGE', 'leaf SVID lacks digitalSignature');
  }
  // X509-SVID §4.4: when EKU is present, both TLS purposes must be, since SVIDs serve both ends of mTLS.
  const eku = leaf.ext.getExtension(x509.ExtendedKeyUsageExtension);
  if (eku) {
    const usages = new Set(eku.usages.map(String));
    if (!usages.has(x509.ExtendedKeyUsage.serverAuth) || !usages.has(x509.ExtendedKeyUsage.clientAuth)) {
      throw new PkiError(
        'ERR_SVID_EXT_KEY_USAGE',
        'leaf SVID extendedKeyUsage lacks serverAuth or clientAuth',
      );
    }
  }
}

/** Exactly one URI SAN, a SPIFFE ID with a path (X509-SVID §2, §3.1, §5.2). */
function leafIdentity(leaf: Parsed): { spiffeId: SpiffeId; trustDomain: string } {
  const uris = uriSansOf(leaf.ext);
  if (uris.length === 0) throw new PkiError('ERR_SVID_NO_URI_SAN', 'leaf SVID has no URI SAN');
  if (uris.length > 1)
    throw new PkiError('ERR_SVID_MULTIPLE_URI_SANS', `leaf SVID has ${uris.length} URI SANs`);
  const spiffeId = uris[0] as string;
  const id = parseSpiffeId(spiffeId);
  // §5.2: the validator "MUST ensure that the SPIFFE ID has a non-root path component".
  if (id.path === '') {
    throw new PkiError('ERR_SVID_NO_PATH', `leaf SVID ${spiffeId} is a trust domain ID, not a workload's`);
  }
  return { spiffeId, trustDomain: id.trustDomain };
}

function checkTrustDomain(actual: string, expected: string): void {
  if (actual !== expected) {
    throw new PkiError(
      'ERR_SVID_TRUST_DOMAIN',
      `SVID trust domain ${actual} is not the expected ${expected}`,
    );
  }
}

/**
 * The X509-SVID profile checks of `validateSvid` without the chain and the validity window: exactly one URI
 * SAN that is a SPIFFE ID with a path in `trustDomain`, CA=false, critical keyUsage with digitalSignature and
 * without keyCertSign/cRLSign, EKU serverAuth+clientAuth. For per-call checks on a certificate whose chain
 * the TLS handshake already verified (OpenSSL enforces pathLen and name constraints there too). It returns the
 * validity window rather than judging it: an established connection outlives the handshake, so the caller
 * compares the dates with its clock on every call (see @zenmesh/identity).
 */
export function checkSvidProfile(
  certPem: string,
  opts: { trustDomain: string },
): { spiffeId: SpiffeId; serial: string; notBefore: Date; notAfter: Date } {
  const first = splitPemCertificates(certPem)[0];
  if (first === undefined) throw new PkiError('ERR_CERT_MALFORMED', 'no PEM certificate found');
  const leaf = parse(first, 'leaf SVID');
  const { spiffeId, trustDomain } = leafIdentity(leaf);
  checkLeafShape(leaf);
  checkTrustDomain(trustDomain, opts.trustDomain);
  return {
    spiffeId,
    serial: leaf.node.serialNumber.toLowerCase(),
    notBefore: leaf.node.validFromDate,
    notAfter: leaf.node.validToDate,
  };
}

/** Walks leaf → (intermediates) → a bundle CA; returns the path, leaf first and that bundle CA last. */
function findPath(leaf: Parsed, intermediates: Parsed[], roots: Parsed[], now: Date): Parsed[] {
  const path = [leaf];
  let current = leaf;
  for (let depth = 0; depth < MAX_CHAIN_DEPTH; depth++) {
    for (const root of roots) {
      if (maySign(root) && validAt(root.node, now) && issuedBy(current.node, root.node)) {
        return [...path, root];
      }
    }
    const next = intermediates.find(
      (i) => !path.includes(i) && maySign(i) && validAt(i.node, now) && issuedBy(current.node, i.node),
    );
    if (!next) break;
    path.push(next);
    current = next;
  }
  throw new PkiError('ERR_SVID_UNTRUSTED', 'SVID does not chain to any CA in the trust bundle');
}

/**
 * Validates an X509-SVID (leaf first; any intermediates after it in the same PEM) against a trust
 * bundle, rejecting everything https://github.com/spiffe/spiffe/blob/main/standards/X509-SVID.md §5
 * says to reject, including RFC 5280 path validation's pathLenConstraint and name constraints on every CA of
 * the path (`checkChainConstraints`). Synchronous so it can run inside a TLS `checkServerIdentity` callback.
 */
export function validateSvid(certPem: string, opts: ValidateSvidOptions): ValidatedSvid {
  const pems = splitPemCertificates(certPem);
  const first = pems[0];
  if (first === undefined) throw new PkiError('ERR_CERT_MALFORMED', 'no PEM certificate found');
  const leaf = parse(first, 'leaf SVID');
  const { spiffeId, trustDomain } = leafIdentity(leaf);
  checkLeafShape(leaf);
  checkTrustDomain(trustDomain, opts.trustDomain);

  const now = opts.now ?? new Date();
  const notBefore = leaf.node.validFromDate;
  const notAfter = leaf.node.validToDate;
  if (now < notBefore)
    throw new PkiError('ERR_SVID_NOT_YET_VALID', `SVID not valid before ${notBefore.toISOString()}`);
  if (now > notAfter) throw new PkiError('ERR_SVID_EXPIRED', `SVID expired at ${notAfter.toISOString()}`);

  const roots = opts.bundlePems.flatMap(splitPemCertificates).map((pem) => parse(pem, 'trust bundle CA'));
  const intermediates = pems.slice(1).map((pem) => parse(pem, 'intermediate CA'));
  const path = findPath(leaf, intermediates, roots, now);
  checkChainConstraints(path);
  const anchor = path.at(-1) as Parsed;

  if (opts.expectedSpiffeId !== undefined && opts.expectedSpiffeId !== spiffeId) {
    throw new PkiError('ERR_SVID_ID_MISMATCH', `SVID is ${spiffeId}, expected ${opts.expectedSpiffeId}`);
  }
  return {
    spiffeId,
    serial: leaf.node.serialNumber.toLowerCase(),
    notBefore,
    notAfter,
    issuerFingerprint: fingerprintOf(anchor.node),
  };
}
