import { AsnConvert } from '@peculiar/asn1-schema';
import { type GeneralName, NameConstraints, SubjectAlternativeName } from '@peculiar/asn1-x509';
import { PkiError } from './errors.js';
import { OID, type x509 } from './x509-provider.js';

/** The GeneralName forms of RFC 5280 §4.2.1.6, as a name constraint or a certificate names them. */
export type NameForm =
  | 'uri'
  | 'dns'
  | 'email'
  | 'ip'
  | 'directoryName'
  | 'otherName'
  | 'registeredID'
  | 'x400Address'
  | 'ediPartyName';

interface Subtree {
  form: NameForm;
  /** Lower-cased host or domain, for the two forms we match (uri, dns); '' otherwise. */
  value: string;
}

/** One CA's nameConstraints extension (RFC 5280 §4.2.1.10). */
export interface NameConstraintSet {
  permitted: Subtree[];
  excluded: Subtree[];
}

/** The names of a certificate that name constraints apply to, by form. */
export type CertificateNames = Map<NameForm, string[]>;

// PKCS#9 emailAddress in a subject DN counts as an rfc822Name (RFC 5280 §4.2.1.10).
const EMAIL_ADDRESS_OID = '1.2.840.113549.1.9.1';

function formOf(name: GeneralName): { form: NameForm; value: string } {
  if (name.uniformResourceIdentifier !== undefined)
    return { form: 'uri', value: name.uniformResourceIdentifier };
  if (name.dNSName !== undefined) return { form: 'dns', value: name.dNSName };
  if (name.rfc822Name !== undefined) return { form: 'email', value: name.rfc822Name };
  if (name.iPAddress !== undefined) return { form: 'ip', value: name.iPAddress };
  if (name.directoryName !== undefined) return { form: 'directoryName', value: '' };
  if (name.registeredID !== undefined) return { form: 'registeredID', value: name.registeredID };
  if (name.x400Address !== undefined) return { form: 'x400Address', value: '' };
  if (name.ediPartyName !== undefined) return { form: 'ediPartyName', value: '' };
  return { form: 'otherName', value: '' };
}

/** Reads a CA's nameConstraints, or undefined when it has none. Malformed → ERR_CERT_MALFORMED. */
export function readNameConstraints(cert: x509.X509Certificate, what: string): NameConstraintSet | undefined {
  const ext = cert.getExtension(OID.nameConstraints);
  if (ext === null) return undefined;
  let nc: NameConstraints;
  try {
    nc = AsnConvert.parse(ext.value, NameConstraints);
  } catch (cause) {
    throw new PkiError('ERR_CERT_MALFORMED', `${what}: nameConstraints could not be decoded`, { cause });
  }
  const read = (subtrees: NameConstraints['permittedSubtrees']): Subtree[] =>
    (subtrees ?? []).map((s) => {
      // RFC 5280 §4.2.1.10: "the minimum MUST be zero, and maximum MUST be absent".
      if (s.minimum !== 0 || s.maximum !== undefined) {
        throw new PkiError(
          'ERR_SVID_NAME_CONSTRAINTS',
          `${what}: a name constraint sets minimum or maximum, which RFC 5280 forbids`,
        );
      }
      const { form, value } = formOf(s.base);
      return { form, value: form === 'uri' || form === 'dns' ? value.toLowerCase() : '' };
    });
  const set = { permitted: read(nc.permittedSubtrees), excluded: read(nc.excludedSubtrees) };
  // "Conforming CAs MUST NOT issue certificates where name constraints is an empty sequence."
  if (set.permitted.length === 0 && set.excluded.length === 0) {
    throw new PkiError('ERR_CERT_MALFORMED', `${what}: nameConstraints is empty`);
  }
  return set;
}

/** Every subject alternative name of a certificate, plus its subject DN and any emailAddress in it. */
export function namesOf(cert: x509.X509Certificate, node: { subject: string }): CertificateNames {
  const names: CertificateNames = new Map();
  const add = (form: NameForm, value: string) => names.set(form, [...(names.get(form) ?? []), value]);
  for (const ext of cert.getExtensions(OID.subjectAltName)) {
    let san: SubjectAlternativeName;
    try {
      san = AsnConvert.parse(ext.value, SubjectAlternativeName);
    } catch (cause) {
      throw new PkiError('ERR_CERT_MALFORMED', 'subjectAltName could not be decoded', { cause });
    }
    for (const name of san) {
      const { form, value } = formOf(name);
      add(form, value);
    }
  }
  if (node.subject !== '') add('directoryName', node.subject);
  for (const value of cert.subjectName.getField(EMAIL_ADDRESS_OID)) add('email', value);
  return names;
}

/**
 * The host of a URI (RFC 3986 §3.2.2), lower-cased; undefined when it has none. For a SPIFFE ID it is the
 * trust domain, which is what URI name constraints constrain (RFC 5280 §4.2.1.10, X509-SVID §4.2).
 */
export function uriHost(uri: string): string | undefined {
  const scheme = uri.indexOf('://');
  if (scheme <= 0) return undefined;
  let authority = uri.slice(scheme + 3);
  const end = authority.search(/[/?#]/);
  if (end !== -1) authority = authority.slice(0, end);
  authority = authority.slice(authority.lastIndexOf('@') + 1);
  // An IP literal in brackets keeps its colons; otherwise a colon starts the port.
  const host = authority.startsWith('[')
    ? authority.slice(0, authority.indexOf(']') + 1)
    : authority.replace(/:\d*$/, '');
  return host === '' ? undefined : host.toLowerCase();
}

/**
 * RFC 5280 §4.2.1.10 for URIs: ".example.com" is satisfied by any host below example.com (one or more more
 * labels) but not by example.com itself; "example.com" names exactly that host.
 */
function uriMatches(host: string | undefined, constraint: string): boolean {
  if (host === undefined) return false;
  if (constraint.startsWith('.')) return host.length > constraint.length && host.endsWith(constraint);
  return host === constraint;
}

/** DNS: "example.com" is satisfied by example.com and any name below it; a leading "." excludes the apex. */
function dnsMatches(name: string, constraint: string): boolean {
  const n = name.toLowerCase();
  if (constraint === '') return true;
  if (constraint.startsWith('.')) return n.length > constraint.length && n.endsWith(constraint);
  return n === constraint || n.endsWith(`.${constraint}`);
}

const MATCHERS: Partial<Record<NameForm, (name: string, constraint: string) => boolean>> = {
  uri: (name, c) => uriMatches(uriHost(name), c),
  dns: dnsMatches,
};

/**
 * Checks the names of one certificate below a CA against that CA's constraints. URI (by host) and DNS names
 * are matched; a constraint on any other form refuses a certificate that carries a name of that form, since an
 * unprocessed constraint must not pass (RFC 5280 §4.2.1.10: "process the constraint or reject").
 */
export function checkNameConstraints(
  constraints: NameConstraintSet,
  names: CertificateNames,
  where: { ca: string; cert: string },
): void {
  const refuse = (why: string) =>
    new PkiError('ERR_SVID_NAME_CONSTRAINTS', `${where.cert}: ${why} of CA "${where.ca}"`);
  for (const [form, values] of names) {
    const permitted = constraints.permitted.filter((s) => s.form === form);
    const excluded = constraints.excluded.filter((s) => s.form === form);
    if (permitted.length === 0 && excluded.length === 0) continue;
    const match = MATCHERS[form];
    if (match === undefined) throw refuse(`carries a ${form} name, constrained by the name constraints`);
    for (const value of values) {
      const shown = JSON.stringify(value.slice(0, 200));
      if (permitted.length > 0 && !permitted.some((s) => match(value, s.value))) {
        throw refuse(`${form} name ${shown} is outside the permitted subtrees`);
      }
      if (excluded.some((s) => match(value, s.value))) {
        throw refuse(`${form} name ${shown} is inside an excluded subtree`);
      }
    }
  }
}
