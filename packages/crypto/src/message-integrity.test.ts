import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import {
  activateKeyVersion,
  addKeyVersion,
  CryptoError,
  canonicalRequest,
  createMemoryNonceStore,
  createMessageKeyring,
  createMessageSigner,
  createRedisNonceStore,
  deriveMessageKey,
  INITIAL_KEYRING,
  KEYRING_FILE,
  readKeyringFile,
  writeKeyringFile,
} from './index.js';

const master = Buffer.alloc(32, 7);
const body = Buffer.from([0x0a, 0x03, 0x61, 0x62, 0x63]);
const req = {
  path: '/zenmesh.v1.EgressService/Dispatch',
  callerId: 'spiffe://zenmesh.local/ns/zenmesh/sa/ingester',
  body,
};

describe('per-cluster HMAC keys (HKDF-SHA256)', () => {
  it('derives a known answer, different per cluster and per version', () => {
    // Known answer for master = 32 × 0x07, info "zenmesh/message-hmac/zenmesh.local/v1" (RFC 5869, empty salt).
    expect(deriveMessageKey(master, 'zenmesh.local', 1).toString('hex')).toBe(KAT_V1);
    const keys = new Set(
      [
        deriveMessageKey(master, 'zenmesh.local', 1),
        deriveMessageKey(master, 'zenmesh.local', 2),
        deriveMessageKey(master, 'other.example', 1),
      ].map((k) => k.toString('hex')),
    );
    expect(keys.size).toBe(3);
  });

  it('refuses a short master key, a bad cluster name and version 0', () => {
    expect(() => deriveMessageKey(Buffer.alloc(16), 'zenmesh.local', 1)).toThrow(TypeError);
    expect(() => deriveMessageKey(master, 'Bad Cluster', 1)).toThrow(TypeError);
    expect(() => deriveMessageKey(master, 'zenmesh.local', 0)).toThrow(TypeError);
  });
});

// Computed independently (Python hmac/hashlib, RFC 5869 extract+expand with a zero salt).
const KAT_V1 = 'ff7c7e28c8124c80255999ed892453e832117e6968b2dca6419f9538b3997b42';

describe('request signatures', () => {
  const now = 1_800_000_000_000;
  const signer = createMessageSigner({
    keyring: createMessageKeyring({ masterKey: master, cluster: 'zenmesh.local' }),
    clock: () => now,
  });

  it('verifies its own signature over the exact bytes', () => {
    const sig = signer.signRequest(req);
    expect(sig).toMatchObject({ keyId: 'v1', timestamp: String(now / 1000) });
    expect(signer.verifyRequest({ ...req, signature: sig })).toEqual({
      ok: true,
      keyId: 'v1',
      nonce: sig.nonce,
    });
  });

  it('is unambiguous: every field is on its own line, line breaks are refused', () => {
    const text = canonicalRequest({
      keyId: 'v1',
      path: req.path,
      timestamp: '1',
      nonce: 'n',
      callerId: req.callerId,
      body,
    });
    expect(text.split('\n')).toHaveLength(7);
    expect(() =>
      canonicalRequest({ keyId: 'v1', path: 'a\nb', timestamp: '1', nonce: 'n', callerId: 'c', body }),
    ).toThrow(TypeError);
  });

  it('gives each refusal its reason', () => {
    const sig = signer.signRequest(req);
    const v = (patch: object, input = req) =>
      signer.verifyRequest({ ...input, signature: { ...sig, ...patch } });
    expect(signer.verifyRequest({ ...req, signature: { keyId: 'v1' } })).toEqual({
      ok: false,
      reason: 'missing_signature',
    });
    expect(v({ keyId: 'v9' })).toEqual({ ok: false, reason: 'unknown_key_id' });
    expect(v({ keyId: 'x' })).toEqual({ ok: false, reason: 'unknown_key_id' });
    expect(v({ timestamp: String(now / 1000 - 301) })).toEqual({ ok: false, reason: 'stale_timestamp' });
    expect(v({ timestamp: String(now / 1000 + 301) })).toEqual({ ok: false, reason: 'stale_timestamp' });
    expect(v({ timestamp: String(now / 1000 + 1) })).toEqual({ ok: false, reason: 'bad_signature' });
    expect(v({}, { ...req, path: '/zenmesh.v1.EgressService/Other' })).toEqual({
      ok: false,
      reason: 'bad_signature',
    });
    expect(v({}, { ...req, callerId: 'spiffe://zenmesh.local/ns/zenmesh/sa/bff' })).toEqual({
      ok: false,
      reason: 'bad_signature',
    });
    expect(v({}, { ...req, body: Buffer.from([0x0a, 0x03, 0x61, 0x62, 0x62]) })).toEqual({
      ok: false,
      reason: 'bad_signature',
    });
    expect(v({ signature: 'short' })).toEqual({ ok: false, reason: 'bad_signature' });
  });

  it('accepts timestamps at the edge of the ±300 s window', () => {
    const at = (offset: number) =>
      createMessageSigner({
        keyring: createMessageKeyring({ masterKey: master, cluster: 'zenmesh.local' }),
        clock: () => now + offset,
      });
    expect(signer.verifyRequest({ ...req, signature: at(-300_000).signRequest(req) }).ok).toBe(true);
    expect(signer.verifyRequest({ ...req, signature: at(300_000).signRequest(req) }).ok).toBe(true);
  });

  it('signs responses bound to the request nonce and detects any change', () => {
    const sig = signer.signRequest(req);
    const reply = Buffer.from([0x08, 0x01]);
    const s = signer.signResponse({
      path: req.path,
      keyId: sig.keyId,
      nonce: sig.nonce,
      body: reply,
    }) as string;
    expect(
      signer.verifyResponse({ path: req.path, keyId: 'v1', nonce: sig.nonce, body: reply, signature: s }),
    ).toBe(true);
    expect(
      signer.verifyResponse({
        path: req.path,
        keyId: 'v1',
        nonce: sig.nonce,
        body: Buffer.from([0x08, 0x00]),
        signature: s,
      }),
    ).toBe(false);
    const other = signer.signRequest(req).nonce;
    expect(
      signer.verifyResponse({ path: req.path, keyId: 'v1', nonce: other, body: reply, signature: s }),
    ).toBe(false);
  });
});

describe('keyring and rotation', () => {
  const dir = mkdtempSync(join(tmpdir(), 'zm-keyring-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('starts at v1 without a file, and follows the file as it changes', () => {
    let t = 0;
    const ring = createMessageKeyring({
      masterKey: master,
      cluster: 'zenmesh.local',
      secretsDir: dir,
      reloadMs: 10,
      clock: () => t,
    });
    expect(ring.signingKey().keyId).toBe('v1');
    const { state: accepting, version } = addKeyVersion(readKeyringFile(dir), t);
    writeKeyringFile(dir, accepting);
    t += 20;
    expect(ring.signingKey().keyId).toBe('v1');
    expect(ring.verificationKey('v2')).toBeDefined();
    writeKeyringFile(dir, activateKeyVersion(accepting, version, 5000, t));
    t += 20;
    expect(ring.signingKey().keyId).toBe('v2');
    expect(ring.verificationKey('v1', t + 4000)).toBeDefined();
    expect(ring.verificationKey('v1', t + 5001)).toBeUndefined();
  });

  it('keeps the last good keyring when the file turns invalid', () => {
    let t = 0;
    const errors: unknown[] = [];
    const ring = createMessageKeyring({
      masterKey: master,
      cluster: 'zenmesh.local',
      secretsDir: dir,
      reloadMs: 10,
      clock: () => t,
      onReloadError: (e) => errors.push(e),
    });
    const active = ring.signingKey().keyId;
    writeFileSync(join(dir, KEYRING_FILE), '{"active": 9, "keys": []}');
    t += 20;
    expect(ring.signingKey().keyId).toBe(active);
    expect((errors[0] as CryptoError).code).toBe('ERR_KEYRING_INVALID');
    expect(() => readKeyringFile(dir)).toThrow(CryptoError);
  });

  it('refuses to activate an unknown version and to write an invalid keyring', () => {
    expect(() => activateKeyVersion(INITIAL_KEYRING, 3, 1000)).toThrow(TypeError);
    expect(() => writeKeyringFile(dir, { active: 2, keys: [{ version: 1 }] })).toThrow(CryptoError);
  });
});

describe('nonce stores', () => {
  it('in-process: first claim wins, expiry frees it, a full store refuses', async () => {
    let t = 0;
    const store = createMemoryNonceStore({ clock: () => t, maxEntries: 2 });
    expect(await store.claim('a', 100)).toBe(true);
    expect(await store.claim('a', 100)).toBe(false);
    expect(await store.claim('b', 100)).toBe(true);
    await expect(store.claim('c', 100)).rejects.toMatchObject({ code: 'ERR_NONCE_STORE_UNAVAILABLE' });
    t = 101;
    expect(await store.claim('a', 100)).toBe(true);
  });

  it('Redis: SET NX PX across two clients, TTL at least the one asked for', async () => {
    const url = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
    const prefix = `zmtest:crypto:${randomBytes(6).toString('hex')}:`;
    const one = createRedisNonceStore({ url, prefix });
    const two = createRedisNonceStore({ url, prefix });
    const raw = new Redis(url);
    try {
      expect(await one.waitUntilReady(5000)).toBe(true);
      expect(await two.waitUntilReady(5000)).toBe(true);
      expect(await one.claim('n1', 600_000)).toBe(true);
      expect(await two.claim('n1', 600_000)).toBe(false);
      const ttl = await raw.pttl(`${prefix}n1`);
      expect(ttl).toBeGreaterThan(590_000);
    } finally {
      await raw.del(`${prefix}n1`);
      raw.disconnect();
      await one.close();
      await two.close();
    }
  });

  it('Redis unreachable: claims reject at once with ERR_NONCE_STORE_UNAVAILABLE', async () => {
    const store = createRedisNonceStore({ url: 'redis://127.0.0.1:1', prefix: 'zmtest:none:' });
    try {
      await expect(store.claim('n', 1000)).rejects.toMatchObject({ code: 'ERR_NONCE_STORE_UNAVAILABLE' });
    } finally {
      await store.close();
    }
  });
});
