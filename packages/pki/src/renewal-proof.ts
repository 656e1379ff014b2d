import { createPrivateKey, createPublicKey, sign, verify } from 'node:crypto';
import { PkiError } from './errors.js';
import { readCertificate } from './fingerprint.js';

// Domain separation: a renewal proof can never be replayed as a signature over anything else we sign.
const CONTEXT = 'zenmesh-renew-v1\n';

/**
 * Signs a renewal request with the key of the SVID being renewed: ECDSA-SHA256 (DER) over
 * "zenmesh-renew-v1\n" + csrPem. With the CSR's own self-signature (new key) this proves the caller holds both
 * the current and the next private key, so a stolen certificate alone (certificates are public) renews nothing.
 */
export function signRenewalProof(currentKeyPem: string, csrPem: string): Buffer {
  let key: ReturnType<typeof createPrivateKey>;
  try {
    key = createPrivateKey(currentKeyPem);
  } catch (cause) {
    throw new PkiError('ERR_KEY_INVALID', 'current SVID key is not a readable PEM private key', { cause });
  }
  return sign('sha256', Buffer.from(CONTEXT + csrPem, 'utf8'), { key, dsaEncoding: 'der' });
}

/** Checks a proof made by `signRenewalProof` against the (leaf) certificate's public key. */
export function verifyRenewalProof(currentCertPem: string, csrPem: string, proof: Uint8Array): boolean {
  const cert = readCertificate(currentCertPem, 'current SVID');
  try {
    return verify(
      'sha256',
      Buffer.from(CONTEXT + csrPem, 'utf8'),
      { key: createPublicKey(cert.publicKey.export({ type: 'spki', format: 'pem' })), dsaEncoding: 'der' },
      proof,
    );
  } catch {
    return false;
  }
}
