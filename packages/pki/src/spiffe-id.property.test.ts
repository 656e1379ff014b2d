// Property tests (fast-check, fixed seed) for the SPIFFE ID edge: every peer certificate's URI SAN and every
// join token's subject goes through parseSpiffeId. Whatever string arrives it answers with the ID or with
// ERR_SPIFFE_ID_INVALID — never another exception — and it accepts exactly the IDs of SPIFFE-ID spec §2, which
// the WHATWG URL parser (an independent judge) reads with the same trust domain and path.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { PkiError } from './errors.js';
import { uriHost } from './name-constraints.js';
import { parseSubjectAltName, spiffeIdFromCertificate } from './san.js';
import { parseSpiffeId } from './spiffe-id.js';

const SEED = 0x5eed_0012;
const RUNS = { seed: SEED, numRuns: 500 };

const chars = (set: string) => fc.constantFrom(...set.split(''));
const TD_CHARS = 'abcdefghijklmnopqrstuvwxyz0123456789.-_';
const SEGMENT_CHARS = `${TD_CHARS}ABCDEFGHIJKLMNOPQRSTUVWXYZ`;
const trustDomain = fc.string({ unit: chars(TD_CHARS), minLength: 1, maxLength: 40 });
const segment = fc
  .string({ unit: chars(SEGMENT_CHARS), minLength: 1, maxLength: 20 })
  .filter((s) => s !== '.' && s !== '..');
const path = fc.array(segment, { maxLength: 6 }).map((s) => s.map((x) => `/${x}`).join(''));
const wellFormed = fc.tuple(trustDomain, path).map(([td, p]) => ({ td, p, id: `spiffe://${td}${p}` }));

/** The code of a refusal; fails the property on any exception that is not a PkiError. */
function outcome(fn: () => unknown): string {
  try {
    fn();
    return 'accepted';
  } catch (err) {
    if (err instanceof PkiError) return err.code;
    throw new Error(`not a PkiError: ${String(err)}`);
  }
}

describe('parseSpiffeId under arbitrary input', () => {
  it('never throws anything but ERR_SPIFFE_ID_INVALID', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.string({ unit: 'grapheme' }), fc.webUrl()), (s) => {
        expect(['accepted', 'ERR_SPIFFE_ID_INVALID']).toContain(outcome(() => parseSpiffeId(s)));
      }),
      RUNS,
    );
  });

  it('also under strings that look almost like SPIFFE IDs', () => {
    const near = fc
      .tuple(
        fc.constantFrom('spiffe://', 'SPIFFE://', 'spiffe:/', 'spiffe:', 'https://', ''),
        fc.string({ unit: chars(`${SEGMENT_CHARS}/:@?#%[] `), maxLength: 60 }),
      )
      .map(([a, b]) => a + b);
    fc.assert(
      fc.property(near, (s) => {
        const r = outcome(() => parseSpiffeId(s));
        expect(['accepted', 'ERR_SPIFFE_ID_INVALID']).toContain(r);
        if (r === 'accepted') {
          // Anything accepted is exactly of the §2 shape.
          expect(s).toMatch(/^spiffe:\/\/[a-z0-9._-]+(\/[A-Za-z0-9._-]+)*$/);
        }
      }),
      RUNS,
    );
  });
});

describe('parseSpiffeId on well-formed IDs', () => {
  it('accepts every §2 ID, with the trust domain and path the URL parser sees too', () => {
    fc.assert(
      fc.property(wellFormed, ({ td, p, id }) => {
        const parsed = parseSpiffeId(id);
        expect({ trustDomain: parsed.trustDomain, path: parsed.path }).toEqual({ trustDomain: td, path: p });
        const url = new URL(id);
        expect({ host: url.host, path: url.pathname === '/' ? '' : url.pathname }).toEqual({
          host: td,
          path: p,
        });
        // What URI name constraints constrain (RFC 5280 §4.2.1.10) is the trust domain.
        expect(uriHost(id)).toBe(td);
      }),
      RUNS,
    );
  });

  it('fills namespace and service exactly for /ns/<ns>/sa/<svc>', () => {
    fc.assert(
      fc.property(trustDomain, segment, segment, (td, ns, sa) => {
        const parsed = parseSpiffeId(`spiffe://${td}/ns/${ns}/sa/${sa}`);
        expect({ namespace: parsed.namespace, service: parsed.service }).toEqual({
          namespace: ns,
          service: sa,
        });
      }),
      RUNS,
    );
  });
});

describe('parseSpiffeId refuses every defect of §2, wherever it is put', () => {
  type Defect = readonly [string, (td: string, p: string) => string];
  const defects = fc.constantFrom<Defect>(
    ['upper-case trust domain', (td: string, p: string) => `spiffe://${td}A${p}`],
    ['port', (td: string, p: string) => `spiffe://${td}:443${p}`],
    ['userinfo', (td: string, p: string) => `spiffe://u@${td}${p}`],
    ['query', (td: string, p: string) => `spiffe://${td}${p}?x=1`],
    ['fragment', (td: string, p: string) => `spiffe://${td}${p}#f`],
    ['empty segment', (td: string, p: string) => `spiffe://${td}${p}//x`],
    ['trailing slash', (td: string, p: string) => `spiffe://${td}${p}/`],
    ['dot segment', (td: string, p: string) => `spiffe://${td}/..${p}`],
    ['percent-encoding', (td: string, p: string) => `spiffe://${td}${p}/a%41`],
    ['other scheme', (td: string, p: string) => `https://${td}${p}`],
    ['upper-case scheme', (td: string, p: string) => `SPIFFE://${td}${p}`],
    ['empty trust domain', (_td: string, p: string) => `spiffe://${p}`],
    ['over 2048 bytes', (td: string, p: string) => `spiffe://${td}${p}/${'a'.repeat(2049)}`],
  );
  it('refuses with ERR_SPIFFE_ID_INVALID', () => {
    fc.assert(
      fc.property(trustDomain, path, defects, (td, p, [, make]) => {
        const id = make(td, p);
        // "spiffe:///x" style leftovers of an empty trust domain are refused too; nothing here is valid.
        expect(outcome(() => parseSpiffeId(id))).toBe('ERR_SPIFFE_ID_INVALID');
      }),
      RUNS,
    );
  });
});

describe('a peer certificate’s subjectaltname text (Node’s format)', () => {
  it('never throws anything but a PkiError, and finds the one URI SAN that is there', () => {
    fc.assert(
      fc.property(fc.string({ unit: chars(`${SEGMENT_CHARS}:/, "\\@`), maxLength: 80 }), (text) => {
        const r = outcome(() => spiffeIdFromCertificate({ subjectaltname: text }));
        expect([
          'accepted',
          'ERR_SVID_NO_URI_SAN',
          'ERR_SVID_MULTIPLE_URI_SANS',
          'ERR_SPIFFE_ID_INVALID',
          'ERR_CERT_MALFORMED',
        ]).toContain(r);
        expect(['accepted', 'ERR_CERT_MALFORMED']).toContain(outcome(() => parseSubjectAltName(text)));
      }),
      RUNS,
    );
    fc.assert(
      fc.property(wellFormed, fc.array(fc.domain(), { maxLength: 3 }), ({ id }, dns) => {
        const text = [...dns.map((d) => `DNS:${d}`), `URI:${id}`].join(', ');
        expect(spiffeIdFromCertificate({ subjectaltname: text })).toBe(id);
      }),
      RUNS,
    );
  });
});
