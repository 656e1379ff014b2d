import { type KeyObject, type webcrypto, X509Certificate } from 'node:crypto';
import { assertTtl, type CertificateAuthority, randomSerialHex } from './ca.js';
import { CLOCK_SKEW_TOLERANCE_MS } from './clock-skew.js';
import { readVerifiedCsr } from './csr.js';
import { PkiError } from './errors.js';
import {
  ECDSA_SHA256,
  generateKeyPair,
  readP256PrivateKey,
  readPublicKeySpki,
  signingKey,
  spkiOf,
} from './keys.js';
import { assertTrustDomain, parseSpiffeId, type SpiffeId } from './spiffe-id.js';
import { x509 } from './x509-provider.js';

export interface IssueSvidOptions {
  ca: CertificateAuthority;
  spiffeId: SpiffeId;
  /** The workload's public key (SPKI PEM). Give this or `csrPem`, not both. */
  publicKeyPem?: string;
  /** A PKCS#10 request from the workload; its signature and requested URI SAN are checked. */
  csrPem?: string;
  ttlSeconds?: number;
  now?: Date;
  dnsNames?: string[];
}

export interface IssuedSvid {
  certPem: string;
  /** Lower-case hex, as `validateSvid` reports it. */
  serial: string;
  notAfter: Date;
}

export const DEFAULT_SVID_TTL_SECONDS = 3600;
// RFC 1123 host names, optionally with one leading wildcard label; anything else is a caller bug.
const DNS_NAME_RE =
  /^(\*\.)?([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;

interface LoadedCa {
  certPem: string;
  keyPem: string;
  subject: x509.Name;
  keyId: string;
  notBefore: Date;
  notAfter: Date;
  key: webcrypto.CryptoKey;
}

// Parsing the CA and importing its key costs more than signing; remember it per CA object.
const loadedCas = new WeakMap<CertificateAuthority, LoadedCa>();

function loadCa(ca: CertificateAuthority): LoadedCa {
  const cached = loadedCas.get(ca);
  if (cached && cached.certPem === ca.certPem && cached.keyPem === ca.keyPem) return cached;
  assertTrustDomain(ca.trustDomain);
  let nodeCert: X509Certificate;
  let cert: x509.X509Certificate;
  try {
    nodeCert = new X509Certificate(ca.certPem);
    cert = new x509.X509Certificate(ca.certPem);
  } catch (cause) {
    throw new PkiError('ERR_CA_INVALID', 'CA certificate is not a readable PEM X.509 certificate', { cause });
  }
  if (!nodeCert.ca) throw new PkiError('ERR_CA_INVALID', 'CA certificate does not have CA=true');
  let privateKey: KeyObject;
  try {
    privateKey = readP256PrivateKey(ca.keyPem, 'CA key');
  } catch (cause) {
    throw new PkiError('ERR_CA_INVALID', 'CA key is not a readable ECDSA P-256 private key', { cause });
  }
  const certSpki = nodeCert.publicKey.export({ type: 'spki', format: 'der' });
  if (!spkiOf(privateKey).equals(certSpki)) {
    throw new PkiError('ERR_CA_INVALID', 'CA key does not belong to the CA certificate');
  }
  const ski = cert.getExtension(x509.SubjectKeyIdentifierExtension);
  if (!ski) throw new PkiError('ERR_CA_INVALID', 'CA certificate has no subject key identifier');
  const loaded: LoadedCa = {
    certPem: ca.certPem,
    keyPem: ca.keyPem,
    subject: cert.subjectName,
    keyId: ski.keyId,
    notBefore: cert.notBefore,
    notAfter: cert.notAfter,
    key: signingKey(privateKey),
  };
  loadedCas.set(ca, loaded);
  return loaded;
}

async function subjectSpki(opts: IssueSvidOptions): Promise<ArrayBuffer | Buffer> {
  if (opts.csrPem !== undefined && opts.publicKeyPem !== undefined) {
    throw new TypeError('issueSvid: give either csrPem or publicKeyPem, not both');
  }
  if (opts.publicKeyPem !== undefined) return readPublicKeySpki(opts.publicKeyPem, 'publicKeyPem');
  if (opts.csrPem === undefined) throw new TypeError('issueSvid: csrPem or publicKeyPem is required');
  const csr = await readVerifiedCsr(opts.csrPem);
  // The workload must ask for exactly the identity it is being given (X509-SVID §2: one URI SAN).
  if (csr.uriSans.length !== 1 || csr.uriSans[0] !== opts.spiffeId) {
    throw new PkiError(
      'ERR_CSR_MISMATCH',
      `CSR requests URI SANs [${csr.uriSans.join(', ')}], expected exactly ${opts.spiffeId}`,
    );
  }
  return csr.spki;
}

/**
 * Issues an X509-SVID (https://github.com/spiffe/spiffe/blob/main/standards/X509-SVID.md):
 * one URI SAN (§2), CA=false (§4.1), keyUsage critical with digitalSignature only (§4.3),
 * EKU serverAuth+clientAuth (§4.4). notAfter never exceeds the CA's own notAfter.
 */
export async function issueSvid(opts: IssueSvidOptions): Promise<IssuedSvid> {
  const id = parseSpiffeId(opts.spiffeId);
  if (id.path === '') {
    throw new PkiError('ERR_SPIFFE_ID_INVALID', 'a workload SVID needs a path, not the bare trust domain ID');
  }
  if (id.trustDomain !== opts.ca.trustDomain) {
    throw new PkiError(
      'ERR_TRUST_DOMAIN_MISMATCH',
      `${opts.spiffeId} is not in the CA's trust domain ${opts.ca.trustDomain}`,
    );
  }
  const ttlSeconds = opts.ttlSeconds ?? DEFAULT_SVID_TTL_SECONDS;
  assertTtl(ttlSeconds, 'ttlSeconds');
  for (const dns of opts.dnsNames ?? []) {
    if (!DNS_NAME_RE.test(dns) || dns.length > 253)
      throw new TypeError(`invalid DNS name ${JSON.stringify(dns)}`);
  }
  const ca = loadCa(opts.ca);
  const now = opts.now ?? new Date();
  if (now < ca.notBefore || now > ca.notAfter) {
    throw new PkiError('ERR_CA_INVALID', 'CA certificate is not valid at the issuance time');
  }
  const spki = await subjectSpki(opts);
  const notAfter = new Date(Math.min(now.getTime() + ttlSeconds * 1000, ca.notAfter.getTime()));
  const serialNumber = randomSerialHex();
  const sans: x509.JsonGeneralNames = [{ type: 'url', value: opts.spiffeId }];
  for (const dns of opts.dnsNames ?? []) sans.push({ type: 'dns', value: dns });

  const cert = await x509.X509CertificateGenerator.create({
    serialNumber,
    subject: [{ CN: [id.service ?? id.path.slice(id.path.lastIndexOf('/') + 1)] }, { O: ['Zen Mesh'] }],
    issuer: ca.subject,
    notBefore: new Date(now.getTime() - CLOCK_SKEW_TOLERANCE_MS),
    notAfter,
    publicKey: spki,
    signingKey: ca.key,
    signingAlgorithm: ECDSA_SHA256,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([
        x509.ExtendedKeyUsage.serverAuth,
        x509.ExtendedKeyUsage.clientAuth,
      ]),
      new x509.SubjectAlternativeNameExtension(sans),
      await x509.SubjectKeyIdentifierExtension.create(spki),
      new x509.AuthorityKeyIdentifierExtension(ca.keyId),
    ],
  });
  // Report the dates as encoded (X.509 time has whole seconds), so callers schedule renewal on real values.
  return { certPem: cert.toString('pem'), serial: serialNumber, notAfter: cert.notAfter };
}

/** Dev convenience: a fresh key pair plus its SVID, for launchers that write both to disk. */
export async function issueSvidWithKey(opts: {
  ca: CertificateAuthority;
  spiffeId: SpiffeId;
  ttlSeconds?: number;
  now?: Date;
}): Promise<{ certPem: string; keyPem: string; serial: string; notAfter: Date }> {
  const keyPair = await generateKeyPair();
  const issued = await issueSvid({ ...opts, publicKeyPem: keyPair.publicKeyPem });
  return { ...issued, keyPem: keyPair.privateKeyPem };
}
