import { describe, expect, it } from 'vitest';
import { type ApiKeyVerification, bearerToken, createCachedApiKeyVerifier } from './api-key-auth.js';

const VALID: ApiKeyVerification = { valid: true, keyId: 'key_a', tenantId: '', scopes: ['admin'] };
const INVALID: ApiKeyVerification = { valid: false, keyId: '', tenantId: '', scopes: [] };

function counting(answer: (key: string) => ApiKeyVerification) {
  const asked: string[] = [];
  return {
    asked,
    verify: async (key: string) => {
      asked.push(key);
      return answer(key);
    },
  };
}

describe('createCachedApiKeyVerifier (frozen clock)', () => {
  it('reuses a valid answer until the TTL passes, then asks again', async () => {
    let clock = 1_000_000;
    const token = counting(() => VALID);
    const verify = createCachedApiKeyVerifier(token.verify, { ttlMs: 10_000, now: () => clock });
    expect(await verify('k')).toEqual({ keyId: 'key_a', tenantId: null, scopes: ['admin'] });
    clock += 9_999;
    await verify('k');
    expect(token.asked).toHaveLength(1);
    clock += 1;
    await verify('k');
    expect(token.asked).toHaveLength(2);
  });

  it('never caches longer than 30 s, whatever it is asked', async () => {
    let clock = 0;
    const token = counting(() => VALID);
    const verify = createCachedApiKeyVerifier(token.verify, { ttlMs: 3_600_000, now: () => clock });
    await verify('k');
    clock = 30_000;
    await verify('k');
    expect(token.asked).toHaveLength(2);
  });

  it('does not cache refusals', async () => {
    const token = counting(() => INVALID);
    const verify = createCachedApiKeyVerifier(token.verify);
    expect(await verify('k')).toBeNull();
    expect(await verify('k')).toBeNull();
    expect(token.asked).toHaveLength(2);
  });

  it('keeps at most maxEntries answers, evicting the oldest', async () => {
    const token = counting(() => VALID);
    const verify = createCachedApiKeyVerifier(token.verify, { maxEntries: 2 });
    await verify('a');
    await verify('b');
    await verify('c');
    await verify('c');
    await verify('b');
    expect(token.asked).toEqual(['a', 'b', 'c']);
    await verify('a');
    expect(token.asked).toEqual(['a', 'b', 'c', 'a']);
  });
});

describe('bearerToken', () => {
  it('reads the credential of a Bearer header, scheme case-insensitive', () => {
    expect(bearerToken('Bearer zm_abc')).toBe('zm_abc');
    expect(bearerToken('bearer zm_abc')).toBe('zm_abc');
  });

  it('returns null for anything else', () => {
    for (const header of [undefined, '', 'Bearer', 'Bearer ', 'Basic eDp5', 'Bearer a b', 'zm_abc']) {
      expect(bearerToken(header), String(header)).toBeNull();
    }
  });
});
