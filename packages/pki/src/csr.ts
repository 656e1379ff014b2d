import { createPublicKey, type webcrypto } from 'node:crypto';
import { PkiError } from './errors.js';
import { ECDSA_P256, ECDSA_SHA256, type KeyPairPem, readP256PrivateKey, spkiOf } from './keys.js';
import { parseSpiffeId, type SpiffeId } from './spiffe-id.js';
import { OID, x509 } from './x509-provider.js';

/**
 * PKCS#10 request (RFC 2986) asking for `spiffeId` as the single URI SAN (RFC 2985 extensionRequest).
 * The private key stays with the caller: only the signed request leaves the workload.
 */
export async function createCsr(opts: { spiffeId: SpiffeId; keyPair: KeyPairPem }): Promise<string> {
  const parsed = parseSpiffeId(opts.spiffeId);
  const privateKey = readP256PrivateKey(opts.keyPair.privateKeyPem, 'keyPair.privateKeyPem');
  const derivedSpki = spkiOf(privateKey);
  let givenSpki: Buffer;
  try {
    givenSpki = createPublicKey(opts.keyPair.publicKeyPem).export({ type: 'spki', format: 'der' });
  } catch (cause) {
    throw new PkiError('ERR_KEY_INVALID', 'keyPair.publicKeyPem: not a readable PEM public key', { cause });
  }
  if (!derivedSpki.equals(givenSpki)) {
    throw new PkiError('ERR_KEY_INVALID', 'keyPair.publicKeyPem does not belong to keyPair.privateKeyPem');
  }
  const keys: webcrypto.CryptoKeyPair = {
    privateKey: privateKey.toCryptoKey(ECDSA_P256, false, ['sign']),
    publicKey: createPublicKey(privateKey).toCryptoKey(ECDSA_P256, true, ['verify']),
  };
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    name: [{ CN: [parsed.service ?? parsed.trustDomain] }],
    keys,
    signingAlgorithm: ECDSA_SHA256,
    extensions: [new x509.SubjectAlternativeNameExtension([{ type: 'url', value: opts.spiffeId }])],
  });
  return csr.toString('pem');
}

/** Parsed and signature-checked CSR: its SPKI (DER) and the URI SANs it asks for. */
export interface VerifiedCsr {
  spki: ArrayBuffer;
  uriSans: string[];
}

/** Proof of possession: the CSR must be signed by the key it carries (RFC 2986 §3). */
export async function readVerifiedCsr(csrPem: string): Promise<VerifiedCsr> {
  let csr: x509.Pkcs10CertificateRequest;
  try {
    csr = new x509.Pkcs10CertificateRequest(csrPem);
  } catch (cause) {
    throw new PkiError('ERR_CSR_INVALID', 'CSR is not a readable PEM PKCS#10 request', { cause });
  }
  let signatureOk: boolean;
  try {
    signatureOk = await csr.verify();
  } catch (cause) {
    throw new PkiError('ERR_CSR_INVALID', 'CSR signature could not be checked', { cause });
  }
  if (!signatureOk) throw new PkiError('ERR_CSR_INVALID', 'CSR signature does not verify');
  // Mesh keys are ECDSA P-256 (DESIGN "Identity"); a CSR for any other key (RSA-1024, say) gets no SVID.
  let key: ReturnType<typeof createPublicKey>;
  try {
    key = createPublicKey({ key: Buffer.from(csr.publicKey.rawData), format: 'der', type: 'spki' });
  } catch (cause) {
    throw new PkiError('ERR_CSR_INVALID', 'CSR public key could not be read', { cause });
  }
  if (key.asymmetricKeyType !== 'ec' || key.asymmetricKeyDetails?.namedCurve !== 'prime256v1') {
    throw new PkiError('ERR_CSR_INVALID', 'CSR key must be ECDSA P-256');
  }
  const uriSans: string[] = [];
  // A correctly signed CSR may still carry a malformed extension: that is a bad request, not a CA fault.
  try {
    for (const ext of csr.getExtensions(OID.subjectAltName)) {
      const san = new x509.SubjectAlternativeNameExtension(ext.rawData);
      for (const name of san.names.items) if (name.type === 'url') uriSans.push(name.value);
    }
  } catch (cause) {
    throw new PkiError('ERR_CSR_INVALID', 'CSR subjectAltName could not be decoded', { cause });
  }
  return { spki: csr.publicKey.rawData, uriSans };
}
