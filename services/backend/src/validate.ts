import { createPrivateKey, X509Certificate } from 'node:crypto';
import { invalid } from './errors.js';

export const TENANT_NAME = /^[a-z0-9][a-z0-9-]{0,62}$/;

export function validateTenantName(name: string): string {
  if (!TENANT_NAME.test(name)) throw invalid('invalid_tenant_name');
  return name;
}

/** 1-100 printable characters, no leading/trailing space. */
export function validateSourceName(name: string): string {
  const hasControl = [...name].some((c) => c.charCodeAt(0) < 0x20 || c.charCodeAt(0) === 0x7f);
  if (name.length === 0 || name.length > 100 || name !== name.trim() || hasControl) {
    throw invalid('invalid_source_name');
  }
  return name;
}

/**
 * Targets are http(s) only, and credentials never live in the URL (they would be stored, listed and
 * logged in clear); an endpoint that needs auth uses the signature or, later, per-endpoint mTLS.
 */
export function validateEndpointUrl(raw: string): string {
  if (raw.length === 0 || raw.length > 2048) throw invalid('invalid_url');
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw invalid('invalid_url');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw invalid('invalid_url_scheme');
  if (url.username !== '' || url.password !== '') throw invalid('url_has_credentials');
  if (url.hostname === '') throw invalid('invalid_url');
  return url.toString();
}

/** Event types an endpoint subscribes to; `*` may stand for whole segments only (routing.ts matchesEventType). */
export function validateEventTypes(types: readonly string[]): string[] {
  if (types.length > 100) throw invalid('too_many_event_types');
  for (const t of types) {
    if (t.length === 0 || t.length > 200 || /\s/.test(t)) throw invalid('invalid_event_type');
    if (t.includes('*') && t.split('.').some((s) => s.includes('*') && s !== '*')) {
      throw invalid('invalid_event_type_pattern');
    }
  }
  return [...new Set(types)].sort();
}

export function validateEventType(type: string): string {
  if (type.length === 0 || type.length > 200 || /\s/.test(type)) throw invalid('invalid_event_type');
  return type;
}

const MAX_PEM_CHARS = 16 * 1024;

/**
 * An endpoint's optional mTLS client identity: both PEMs or neither; the certificate must parse, be
 * currently valid and match the private key, so a typo is refused now rather than at delivery time.
 */
export function validateClientIdentity(
  certPem: string | undefined,
  keyPem: string | undefined,
): { certPem: string; keyPem: string } | undefined {
  const cert = certPem ?? '';
  const key = keyPem ?? '';
  if (cert === '' && key === '') return undefined;
  if (cert === '' || key === '') throw invalid('client_cert_and_key_required');
  if (cert.length > MAX_PEM_CHARS || key.length > MAX_PEM_CHARS) throw invalid('client_cert_too_large');
  let x509: X509Certificate;
  try {
    x509 = new X509Certificate(cert);
  } catch {
    throw invalid('invalid_client_cert');
  }
  let privateKey: ReturnType<typeof createPrivateKey>;
  try {
    privateKey = createPrivateKey(key);
  } catch {
    throw invalid('invalid_client_key');
  }
  if (!x509.checkPrivateKey(privateKey)) throw invalid('client_key_mismatch');
  const now = Date.now();
  if (Date.parse(x509.validTo) < now || Date.parse(x509.validFrom) > now)
    throw invalid('client_cert_expired');
  return { certPem: cert, keyPem: key };
}

const HEADER_NAME = /^[a-z0-9!#$%&'*+.^_`|~-]{1,100}$/;
/** Tab, printable ASCII and anything beyond (no control characters). */
const HEADER_VALUE = /^[\t\x20-\x7e\x80-\uffff]*$/;
const MAX_HEADERS = 64;
const MAX_HEADER_BYTES = 16 * 1024;

/** The headers stored with an event: lower-case field names, printable values, bounded in count and size. */
export function validateEventHeaders(headers: Readonly<Record<string, string>>): Record<string, string> {
  const entries = Object.entries(headers);
  if (entries.length > MAX_HEADERS) throw invalid('too_many_headers');
  let bytes = 0;
  const out: Record<string, string> = {};
  for (const [name, value] of entries) {
    bytes += name.length + value.length;
    if (!HEADER_NAME.test(name) || value.length > 4096 || !HEADER_VALUE.test(value)) {
      throw invalid('invalid_headers');
    }
    out[name] = value;
  }
  if (bytes > MAX_HEADER_BYTES) throw invalid('headers_too_large');
  return out;
}
