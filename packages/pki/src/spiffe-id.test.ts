import { describe, expect, it } from 'vitest';
import { PkiError } from './errors.js';
import { parseSpiffeId, spiffeIdFor, trustDomainId } from './spiffe-id.js';

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    return err instanceof PkiError ? err.code : `not a PkiError: ${String(err)}`;
  }
  return undefined;
}

describe('parseSpiffeId', () => {
  it('parses the mesh convention into namespace and service', () => {
    expect(parseSpiffeId('spiffe://zenmesh.local/ns/zenmesh/sa/backend')).toEqual({
      trustDomain: 'zenmesh.local',
      path: '/ns/zenmesh/sa/backend',
      namespace: 'zenmesh',
      service: 'backend',
    });
  });

  it('accepts other valid shapes without namespace/service', () => {
    expect(parseSpiffeId('spiffe://example.org')).toEqual({ trustDomain: 'example.org', path: '' });
    expect(parseSpiffeId('spiffe://a-b_c.9/Path.With-All_chars/x')).toEqual({
      trustDomain: 'a-b_c.9',
      path: '/Path.With-All_chars/x',
    });
    // Segments named '...' are legal: only '.' and '..' exactly are forbidden.
    expect(parseSpiffeId('spiffe://td/.../x').path).toBe('/.../x');
    expect(parseSpiffeId('spiffe://td/ns/a/sa/b/extra').service).toBeUndefined();
  });

  it('accepts exactly 2048 bytes and refuses 2049', () => {
    const base = 'spiffe://td/';
    const ok = base + 'a'.repeat(2048 - base.length);
    expect(parseSpiffeId(ok).trustDomain).toBe('td');
    expect(codeOf(() => parseSpiffeId(`${ok}b`))).toBe('ERR_SPIFFE_ID_INVALID');
  });

  it.each([
    ['empty string', ''],
    ['wrong scheme', 'https://td/x'],
    ['upper-case scheme', 'SPIFFE://td/x'],
    ['missing slashes', 'spiffe:td/x'],
    ['empty trust domain', 'spiffe:///x'],
    ['upper-case trust domain', 'spiffe://TD/x'],
    ['port', 'spiffe://td:8080/x'],
    ['userinfo', 'spiffe://user@td/x'],
    ['query', 'spiffe://td/x?y=1'],
    ['fragment', 'spiffe://td/x#frag'],
    ['trailing slash', 'spiffe://td/x/'],
    ['root path only', 'spiffe://td/'],
    ['empty segment', 'spiffe://td/a//b'],
    ['dot segment', 'spiffe://td/a/./b'],
    ['dot-dot segment', 'spiffe://td/a/../b'],
    ['percent-encoding', 'spiffe://td/a%20b'],
    ['space', 'spiffe://td/a b'],
    ['non-ASCII', 'spiffe://td/caf\u00e9'],
    ['trust domain over 255 bytes', `spiffe://${'a'.repeat(256)}/x`],
  ])('refuses %s', (_name, id) => {
    expect(codeOf(() => parseSpiffeId(id))).toBe('ERR_SPIFFE_ID_INVALID');
  });

  it('throws TypeError for a non-string', () => {
    expect(() => parseSpiffeId(42 as unknown as string)).toThrow(TypeError);
  });
});

describe('spiffeIdFor', () => {
  it('uses the defaults zenmesh.local / zenmesh', () => {
    expect(spiffeIdFor('ingester')).toBe('spiffe://zenmesh.local/ns/zenmesh/sa/ingester');
  });

  it('honours trust domain and namespace', () => {
    expect(spiffeIdFor('bff', { trustDomain: 'prod.example', namespace: 'edge' })).toBe(
      'spiffe://prod.example/ns/edge/sa/bff',
    );
  });

  it('refuses a service that is not one segment', () => {
    expect(codeOf(() => spiffeIdFor('a/b'))).toBe('ERR_SPIFFE_ID_INVALID');
    expect(codeOf(() => spiffeIdFor(''))).toBe('ERR_SPIFFE_ID_INVALID');
    expect(codeOf(() => spiffeIdFor('..'))).toBe('ERR_SPIFFE_ID_INVALID');
  });

  it('refuses a bad trust domain', () => {
    expect(codeOf(() => spiffeIdFor('x', { trustDomain: 'Bad.Domain' }))).toBe('ERR_TRUST_DOMAIN_INVALID');
    expect(codeOf(() => spiffeIdFor('x', { trustDomain: 'td/x' }))).toBe('ERR_TRUST_DOMAIN_INVALID');
    expect(codeOf(() => trustDomainId(''))).toBe('ERR_TRUST_DOMAIN_INVALID');
  });
});
