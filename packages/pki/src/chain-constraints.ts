import type { X509Certificate } from 'node:crypto';
import { PkiError } from './errors.js';
import { checkNameConstraints, namesOf, readNameConstraints } from './name-constraints.js';
import { x509 } from './x509-provider.js';

/** One certificate of a path, read by Node (dates, signature) and by @peculiar/x509 (extensions). */
export interface ParsedCertificate {
  node: X509Certificate;
  ext: x509.X509Certificate;
}

const label = (c: ParsedCertificate) => c.node.subject.replaceAll('\n', ', ') || '(empty subject)';

/** Self-issued: subject and issuer are the same name (RFC 5280 §3.2); such CA certificates are not counted. */
const selfIssued = (c: ParsedCertificate) => c.node.subject === c.node.issuer;

/**
 * The constraints a CA places on the certificates below it in a path, per RFC 5280 §6.1 and X509-SVID §4.1,
 * §4.2: `pathLenConstraint` (how many non-self-issued intermediates may follow it) and name constraints (the
 * names every certificate below it may carry; a URI constraint constrains a SPIFFE ID's trust domain).
 * `path` is leaf first, the trust-bundle CA it ends at last. As OpenSSL does at the handshake, the bundle
 * CA's own constraints apply too, so both judges refuse the same chains.
 */
export function checkChainConstraints(path: readonly ParsedCertificate[]): void {
  for (let i = 1; i < path.length; i++) {
    const ca = path[i] as ParsedCertificate;
    const below = path.slice(0, i);
    const pathLength = ca.ext.getExtension(x509.BasicConstraintsExtension)?.pathLength;
    if (pathLength !== undefined) {
      // RFC 5280 §4.2.1.9: the number of non-self-issued intermediates that may follow this certificate.
      const intermediates = below.slice(1).filter((c) => !selfIssued(c)).length;
      if (intermediates > pathLength) {
        throw new PkiError(
          'ERR_SVID_PATH_LENGTH',
          `CA "${label(ca)}" allows ${pathLength} intermediate CA(s) below it, the path has ${intermediates}`,
        );
      }
    }
    const constraints = readNameConstraints(ca.ext, `CA "${label(ca)}"`);
    if (constraints === undefined) continue;
    below.forEach((cert, depth) => {
      // RFC 5280 §6.1.3 (b), (c): self-issued intermediates are exempt; the leaf never is.
      if (depth > 0 && selfIssued(cert)) return;
      checkNameConstraints(constraints, namesOf(cert.ext, cert.node), {
        ca: label(ca),
        cert: depth === 0 ? 'leaf SVID' : `intermediate CA "${label(cert)}"`,
      });
    });
  }
}
