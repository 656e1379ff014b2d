import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { CaError } from './errors.js';

const PEM_BLOCK = /-----BEGIN CERTIFICATE-----\r?\n[A-Za-z0-9+/=\r\n]+?-----END CERTIFICATE-----/g;

/**
 * Parses a PEM trust bundle: one or more CA certificates. Every block must be a readable X.509 certificate
 * with CA=true (X509-SVID §4.1: only signing certificates belong in a bundle); anything else refuses the
 * whole bundle, because a verifier handed half a bundle fails in confusing ways later.
 */
export function parseTrustBundle(pem: string, source = 'trust bundle'): string[] {
  const blocks = pem.match(PEM_BLOCK) ?? [];
  if (blocks.length === 0) throw new CaError('ERR_TRUST_BUNDLE_EMPTY', `${source} holds no PEM certificate`);
  return blocks.map((block, i) => {
    let cert: X509Certificate;
    try {
      cert = new X509Certificate(block);
    } catch (cause) {
      throw new CaError('ERR_TRUST_BUNDLE_INVALID', `${source}: certificate ${i + 1} is not valid X.509`, {
        cause,
      });
    }
    if (!cert.ca) {
      throw new CaError(
        'ERR_TRUST_BUNDLE_INVALID',
        `${source}: certificate ${i + 1} (${cert.subject}) is not a CA`,
      );
    }
    return cert.toString();
  });
}

/** Reads and parses the bundle file, failing fast with one line that names the file. */
export function loadTrustBundle(path: string): string[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new CaError(
      'ERR_TRUST_BUNDLE_UNREADABLE',
      `cannot read the trust bundle at ${path}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`,
      { cause: err },
    );
  }
  return parseTrustBundle(text, `trust bundle ${path}`);
}
