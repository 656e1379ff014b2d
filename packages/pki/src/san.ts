import { PkiError } from './errors.js';
import { readCertificate } from './fingerprint.js';
import { parseSpiffeId, type SpiffeId } from './spiffe-id.js';
import { OID, x509 } from './x509-provider.js';

/** All URI SANs of a certificate, across every SAN extension instance. */
export function uriSansOf(cert: x509.X509Certificate): string[] {
  const uris: string[] = [];
  for (const ext of cert.getExtensions(OID.subjectAltName)) {
    const san = new x509.SubjectAlternativeNameExtension(ext.rawData);
    for (const name of san.names.items) if (name.type === 'url') uris.push(name.value);
  }
  return uris;
}

/**
 * Splits Node's `subjectaltname` text ("DNS:a, URI:spiffe://td/x"). Since the fix for CVE-2021-44532,
 * Node JSON-quotes values that hold separators, so a quoted value is read as a JSON string.
 */
export function parseSubjectAltName(text: string): Array<{ type: string; value: string }> {
  const out: Array<{ type: string; value: string }> = [];
  let i = 0;
  while (i < text.length) {
    const colon = text.indexOf(':', i);
    if (colon === -1) throw new PkiError('ERR_CERT_MALFORMED', 'unreadable subjectaltname');
    const type = text.slice(i, colon).trim();
    let value: string;
    let end: number;
    if (text[colon + 1] === '"') {
      end = colon + 2;
      while (end < text.length && text[end] !== '"') end += text[end] === '\\' ? 2 : 1;
      if (end >= text.length) throw new PkiError('ERR_CERT_MALFORMED', 'unterminated quoted subjectaltname');
      value = JSON.parse(text.slice(colon + 1, end + 1)) as string;
      end += 1;
    } else {
      end = text.indexOf(', ', colon + 1);
      if (end === -1) end = text.length;
      value = text.slice(colon + 1, end);
    }
    out.push({ type, value });
    if (end < text.length && !text.startsWith(', ', end)) {
      throw new PkiError('ERR_CERT_MALFORMED', 'unreadable subjectaltname');
    }
    i = end + 2;
  }
  return out;
}

/**
 * The SPIFFE ID of a peer: from a `tls.PeerCertificate` (its DER `raw` when present, else its
 * `subjectaltname` text) or from a PEM. Exactly one URI SAN, and it must be a valid SPIFFE ID
 * (X509-SVID §2). This reads identity only; chain and shape checks are `validateSvid`'s job.
 */
export function spiffeIdFromCertificate(
  cert: { subjectaltname?: string; raw?: Buffer } | string | null | undefined,
): SpiffeId {
  let uris: string[];
  // getPeerCertificate() yields null or {} when the peer sent nothing; that is "no identity", not misuse.
  if (cert === null || cert === undefined) throw new PkiError('ERR_SVID_NO_URI_SAN', 'no peer certificate');
  if (typeof cert === 'string' || cert.raw !== undefined) {
    const source = typeof cert === 'string' ? readCertificate(cert).raw : cert.raw;
    let parsed: x509.X509Certificate;
    try {
      parsed = new x509.X509Certificate(source as Buffer);
    } catch (cause) {
      throw new PkiError('ERR_CERT_MALFORMED', 'certificate could not be decoded', { cause });
    }
    uris = uriSansOf(parsed);
  } else {
    uris = parseSubjectAltName(cert.subjectaltname ?? '')
      .filter((n) => n.type === 'URI')
      .map((n) => n.value);
  }
  if (uris.length === 0) throw new PkiError('ERR_SVID_NO_URI_SAN', 'certificate has no URI SAN');
  if (uris.length > 1)
    throw new PkiError('ERR_SVID_MULTIPLE_URI_SANS', `certificate has ${uris.length} URI SANs`);
  const id = uris[0] as string;
  parseSpiffeId(id);
  return id;
}
