import { chmodSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { base32, createSecretBox, loadMasterKey, newId, parseMasterKey, safeEqual } from './index.js';

const dir = mkdtempSync(join(tmpdir(), 'zm-crypto-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const key = Buffer.alloc(32, 7);

describe('secret box', () => {
  const box = createSecretBox(key, 'source-secret');

  it('round-trips and never repeats a ciphertext', () => {
    const a = box.seal('s3cret', 'src_1');
    expect(box.open(a, 'src_1')).toBe('s3cret');
    expect(box.seal('s3cret', 'src_1')).not.toBe(a);
    expect(a).not.toContain('s3cret');
  });

  it('refuses a value moved to another row (aad mismatch)', () => {
    const sealed = box.seal('s3cret', 'src_1');
    expect(() => box.open(sealed, 'src_2')).toThrow(expect.objectContaining({ code: 'ERR_SECRET_BOX_OPEN' }));
  });

  it('refuses any flipped byte', () => {
    const sealed = box.seal('s3cret', 'src_1');
    const raw = Buffer.from(sealed.slice(3), 'base64url');
    for (let i = 0; i < raw.length; i++) {
      const copy = Buffer.from(raw);
      copy[i] = (copy[i] ?? 0) ^ 1;
      expect(() => box.open(`v1.${copy.toString('base64url')}`, 'src_1')).toThrow(
        expect.objectContaining({ code: 'ERR_SECRET_BOX_OPEN' }),
      );
    }
  });

  it('keeps purposes apart (HKDF info)', () => {
    const other = createSecretBox(key, 'endpoint-secret');
    expect(() => other.open(box.seal('x', 'id'), 'id')).toThrow(
      expect.objectContaining({ code: 'ERR_SECRET_BOX_OPEN' }),
    );
  });

  it('refuses unknown formats and truncation', () => {
    expect(() => box.open('v2.abc', 'id')).toThrow(
      expect.objectContaining({ code: 'ERR_SECRET_BOX_FORMAT' }),
    );
    expect(() => box.open('v1.AAAA', 'id')).toThrow(
      expect.objectContaining({ code: 'ERR_SECRET_BOX_FORMAT' }),
    );
  });

  it('refuses a master key of the wrong length (caller misuse)', () => {
    expect(() => createSecretBox(Buffer.alloc(16), 'x')).toThrow(TypeError);
  });
});

describe('master key', () => {
  it('loads a 0600 file of 32 base64 bytes', () => {
    const d = mkdtempSync(join(dir, 'ok-'));
    writeFileSync(join(d, 'master.key'), `${key.toString('base64')}\n`, { mode: 0o600 });
    expect(loadMasterKey(d).equals(key)).toBe(true);
  });

  it('refuses a wrong length without echoing the key', () => {
    const d = mkdtempSync(join(dir, 'short-'));
    writeFileSync(join(d, 'master.key'), Buffer.alloc(31, 1).toString('base64'), { mode: 0o600 });
    expect(() => loadMasterKey(d)).toThrow(/must decode to 32 bytes, got 31/);
    expect(() => parseMasterKey('not base64!')).toThrow(
      expect.objectContaining({ code: 'ERR_MASTER_KEY_INVALID' }),
    );
  });

  it('refuses a symlink', () => {
    const d = mkdtempSync(join(dir, 'link-'));
    writeFileSync(join(d, 'real.key'), key.toString('base64'), { mode: 0o600 });
    symlinkSync(join(d, 'real.key'), join(d, 'master.key'));
    expect(() => loadMasterKey(d)).toThrow(
      expect.objectContaining({
        code: 'ERR_MASTER_KEY_UNREADABLE',
        message: expect.stringMatching(/symlink/),
      }),
    );
  });

  it('refuses a group/world-readable file and a missing file', () => {
    const d = mkdtempSync(join(dir, 'mode-'));
    writeFileSync(join(d, 'master.key'), key.toString('base64'));
    chmodSync(join(d, 'master.key'), 0o644);
    expect(() => loadMasterKey(d)).toThrow(/readable by group or others/);
    expect(() => loadMasterKey(join(dir, 'missing'))).toThrow(
      expect.objectContaining({ code: 'ERR_MASTER_KEY_UNREADABLE' }),
    );
  });
});

describe('primitives', () => {
  it('base32 matches RFC 4648 test vectors (lower-case, unpadded)', () => {
    const vectors: [string, string][] = [
      ['', ''],
      ['f', 'my'],
      ['fo', 'mzxq'],
      ['foo', 'mzxw6'],
      ['foob', 'mzxw6yq'],
      ['fooba', 'mzxw6ytb'],
      ['foobar', 'mzxw6ytboi'],
    ];
    for (const [input, output] of vectors) expect(base32(Buffer.from(input))).toBe(output);
  });

  it('newId has the prefix and 128 random bits', () => {
    const id = newId('evt');
    expect(id).toMatch(/^evt_[a-z2-7]{26}$/);
    expect(newId('evt')).not.toBe(id);
    expect(() => newId('Bad!')).toThrow(TypeError);
  });

  it('safeEqual compares content and length', () => {
    expect(safeEqual('abc', 'abc')).toBe(true);
    expect(safeEqual('abc', 'abd')).toBe(false);
    expect(safeEqual('abc', 'abcd')).toBe(false);
    expect(safeEqual(Buffer.from('abc'), 'abc')).toBe(true);
  });
});
