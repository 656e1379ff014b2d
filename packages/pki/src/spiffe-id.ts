import { PkiError } from './errors.js';

export type SpiffeId = string;

export interface ParsedSpiffeId {
  trustDomain: string;
  path: string;
  namespace?: string;
  service?: string;
}

export const DEFAULT_TRUST_DOMAIN = 'zenmesh.local';
export const DEFAULT_NAMESPACE = 'zenmesh';

const SCHEME_PREFIX = 'spiffe://';
// SPIFFE-ID spec §2.1: trust domain chars are lower-case letters, digits, '.', '-', '_'.
const TRUST_DOMAIN_RE = /^[a-z0-9._-]+$/;
// SPIFFE-ID spec §2.2: path segment chars are letters, digits, '.', '-', '_' (no percent-encoding).
const SEGMENT_RE = /^[A-Za-z0-9._-]+$/;
// SPIFFE-ID spec §2.3: a SPIFFE ID is at most 2048 bytes; a trust domain name at most 255.
const MAX_ID_BYTES = 2048;
const MAX_TRUST_DOMAIN_BYTES = 255;

const invalid = (id: string, why: string): PkiError =>
  new PkiError('ERR_SPIFFE_ID_INVALID', `invalid SPIFFE ID ${JSON.stringify(id.slice(0, 120))}: ${why}`);

/** Throws ERR_TRUST_DOMAIN_INVALID unless `td` is a bare trust domain name (SPIFFE-ID spec §2.1). */
export function assertTrustDomain(td: string): void {
  if (typeof td !== 'string' || td.length === 0) {
    throw new PkiError('ERR_TRUST_DOMAIN_INVALID', 'trust domain is empty');
  }
  if (Buffer.byteLength(td) > MAX_TRUST_DOMAIN_BYTES) {
    throw new PkiError('ERR_TRUST_DOMAIN_INVALID', 'trust domain longer than 255 bytes');
  }
  if (!TRUST_DOMAIN_RE.test(td)) {
    throw new PkiError(
      'ERR_TRUST_DOMAIN_INVALID',
      `trust domain ${JSON.stringify(td.slice(0, 120))} may only hold [a-z0-9._-]`,
    );
  }
}

/**
 * Parses a SPIFFE ID strictly per https://github.com/spiffe/spiffe/blob/main/standards/SPIFFE-ID.md §2.
 * Fills `namespace`/`service` when the path is exactly /ns/<ns>/sa/<svc> (the mesh convention).
 */
export function parseSpiffeId(id: string): ParsedSpiffeId {
  if (typeof id !== 'string') throw new TypeError('SPIFFE ID must be a string');
  if (Buffer.byteLength(id) > MAX_ID_BYTES) throw invalid(id, 'longer than 2048 bytes');
  // The scheme must be exactly "spiffe" in lower case (§2: like go-spiffe, no case folding).
  if (!id.startsWith(SCHEME_PREFIX)) throw invalid(id, 'scheme must be spiffe://');
  const rest = id.slice(SCHEME_PREFIX.length);
  const slash = rest.indexOf('/');
  const trustDomain = slash === -1 ? rest : rest.slice(0, slash);
  const path = slash === -1 ? '' : rest.slice(slash);
  if (trustDomain.length === 0) throw invalid(id, 'trust domain is empty');
  // Port, userinfo, query and fragment are all forbidden (§2.1, §2.2); name them for a clear refusal.
  if (trustDomain.includes(':')) throw invalid(id, 'trust domain must not contain a port');
  if (trustDomain.includes('@')) throw invalid(id, 'trust domain must not contain userinfo');
  if (id.includes('?')) throw invalid(id, 'query is not allowed');
  if (id.includes('#')) throw invalid(id, 'fragment is not allowed');
  if (!TRUST_DOMAIN_RE.test(trustDomain)) throw invalid(id, 'trust domain may only hold [a-z0-9._-]');
  if (Buffer.byteLength(trustDomain) > MAX_TRUST_DOMAIN_BYTES) {
    throw invalid(id, 'trust domain longer than 255 bytes');
  }
  const segments = path === '' ? [] : path.slice(1).split('/');
  for (const segment of segments) {
    if (segment === '') throw invalid(id, 'path segments must not be empty (no "//" or trailing "/")');
    if (segment === '.' || segment === '..') throw invalid(id, 'path segments must not be "." or ".."');
    if (!SEGMENT_RE.test(segment)) throw invalid(id, 'path segments may only hold [A-Za-z0-9._-]');
  }
  const parsed: ParsedSpiffeId = { trustDomain, path };
  if (segments.length === 4 && segments[0] === 'ns' && segments[2] === 'sa') {
    parsed.namespace = segments[1] as string;
    parsed.service = segments[3] as string;
  }
  return parsed;
}

/** Builds the mesh's conventional ID `spiffe://<td>/ns/<namespace>/sa/<service>` and validates it. */
export function spiffeIdFor(
  service: string,
  opts: { trustDomain?: string; namespace?: string } = {},
): SpiffeId {
  const trustDomain = opts.trustDomain ?? DEFAULT_TRUST_DOMAIN;
  const namespace = opts.namespace ?? DEFAULT_NAMESPACE;
  assertTrustDomain(trustDomain);
  const id = `${SCHEME_PREFIX}${trustDomain}/ns/${namespace}/sa/${service}`;
  const parsed = parseSpiffeId(id);
  // A service or namespace containing '/' would parse but shift the path shape; refuse it here.
  if (parsed.service !== service || parsed.namespace !== namespace) {
    throw invalid(id, 'service and namespace must each be a single path segment');
  }
  return id;
}

/** The trust domain's own SPIFFE ID, `spiffe://<td>`, which signing certificates may carry. */
export function trustDomainId(trustDomain: string): SpiffeId {
  assertTrustDomain(trustDomain);
  return `${SCHEME_PREFIX}${trustDomain}`;
}
