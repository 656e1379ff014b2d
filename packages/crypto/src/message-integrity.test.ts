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
  derivePairKey,
  INITIAL_KEYRING,
  KEYRING_FILE,
  readKeyringFile,
  writeKeyringFile,
} from './index.js';

const master = Buffer.alloc(32, 7);
const body = Buffer.from([0x0a, 0x03, 0x61, 0x62, 0x63]);
const INGESTER = 'spiffe://zenmesh.local/ns/zenmesh/sa/ingester';
const EGRESS = 'spiffe://zenmesh.local/ns/zenmesh/sa/egress';
const BACKEND = 'spiffe://zenmesh.local/ns/zenmesh/sa/backend';
const pair = { sender: INGESTER, receiver: EGRESS };

describe('per-pair HMAC keys (HKDF-SHA256)', () => {
  it('derives a known answer, different per cluster, version, sender, receiver and direction', () => {
    // Known answer for master = 32 × 0x07, info "zenmesh/message-hmac/zenmesh.local/v1|<ingester>|<egress>".
    expect(derivePairKey(master, 'zenmesh.local', 1, pair).toString('hex')).toBe(KAT_V1);
    const keys = new Set(
      [
        derivePairKey(master, 'zenmesh.local', 1, pair),
        derivePairKey(master, 'zenmesh.local', 2, pair),
        derivePairKey(master, 'zenmesh.local', 1, { sender: BACKEND, receiver: EGRESS }),
        derivePairKey(master, 'zenmesh.local', 1, { sender: INGESTER, receiver: BACKEND }),
        derivePairKey(master, 'zenmesh.local', 1, { sender: EGRESS, receiver: INGESTER }),
        derivePairKey(master, 'other.example', 1, {
          sender: 'spiffe://other.example/ns/zenmesh/sa/ingester',
          receiver: 'spiffe://other.example/ns/zenmesh/sa/egress',
        }),
      ].map((k) => k.toString('hex')),
    );
    expect(keys.size).toBe(6);
  });

  it('refuses a short master key, a bad cluster, version 0, and IDs outside the cluster or with a separator', () => {
    expect(() => derivePairKey(Buffer.alloc(16), 'zenmesh.local', 1, pair)).toThrow(TypeError);
    expect(() => derivePairKey(master, 'Bad Cluster', 1, pair)).toThrow(TypeError);
    expect(() => derivePairKey(master, 'zenmesh.local', 0, pair)).toThrow(TypeError);
    const bad = (sender: string) => () =>
      derivePairKey(master, 'zenmesh.local', 1, { sender, receiver: EGRESS });
    expect(bad('spiffe://other.example/ns/zenmesh/sa/ingester')).toThrow(TypeError);
    expect(bad(`${INGESTER}|${EGRESS}`)).toThrow(TypeError);
    expect(bad('spiffe://zenmesh.local')).toThrow(TypeError);
  });
});

// Computed independently (Python hmac/hashlib, RFC 5869 extract+expand with a zero salt).
const KAT_V1 = '0183ba5a17996c5ef9c09f91befa1836bc5b3fa42e3f932bf1d21357dfd9d274';

const req = { path: '/zenmesh.v1.EgressService/Dispatch', callerId: INGESTER, serverId: EGRESS, body };

describe('request signatures', () => {
  const now = 1_800_000_000_000;
  const signer = createMessageSigner({
    keyring: createMessageKeyring({ masterKey: master, cluster: 'zenmesh.local' }),
    clock: () => now,
  });

  it('verifies its own signature over the exact bytes', () => {
    const sig = signer.signRequest(req);
    expect(sig).toMatchObject({ keyId: 'v1', timestamp: String(now / 1000), headers: '' });
    expect(signer.verifyRequest({ ...req, signature: sig })).toEqual({
      ok: true,
      keyId: 'v1',
      nonce: sig.nonce,
      headers: [],
    });
  });

  it('is unambiguous: every field is on its own line, line breaks are refused', () => {
    const fields = {
      keyId: 'v1',
      path: req.path,
      timestamp: '1',
      nonce: 'n',
      callerId: INGESTER,
      serverId: EGRESS,
    };
    const text = canonicalRequest({ ...fields, headers: [['authorization', 'Bearer x']] });
    // The exact request bytes follow the last line break.
    expect(text.split('\n')).toEqual([
      'zenmesh-rpc-request-v2',
      'v1',
      req.path,
      '1',
      'n',
      INGESTER,
      EGRESS,
      'authorization',
      'authorization:Bearer x',
      '',
    ]);
    expect(() => canonicalRequest({ ...fields, path: 'a\nb', headers: [] })).toThrow(TypeError);
    expect(() => canonicalRequest({ ...fields, headers: [['x-zm-nonce', 'n']] })).toThrow(TypeError);
    expect(() => canonicalRequest({ ...fields, headers: [['a', 'x\ny']] })).toThrow(TypeError);
  });

  it('gives each refusal its reason', () => {
    const sig = signer.signRequest(req);
    const v = (patch: object, input: typeof req = req) =>
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
    expect(v({}, { ...req, serverId: BACKEND })).toEqual({ ok: false, reason: 'bad_signature' });
    expect(v({}, { ...req, body: Buffer.from([0x0a, 0x03, 0x61, 0x62, 0x62]) })).toEqual({
      ok: false,
      reason: 'bad_signature',
    });
    expect(v({ signature: 'short' })).toEqual({ ok: false, reason: 'bad_signature' });
    // A caller outside the cluster has no key at all: a known version, no key for that pair.
    expect(v({}, { ...req, callerId: 'spiffe://other.example/ns/zenmesh/sa/ingester' })).toEqual({
      ok: false,
      reason: 'no_pair_key',
    });
  });

  it('covers metadata: a changed, dropped, doubled or unlisted covered value is bad_signature', () => {
    const headers = { authorization: 'Bearer alice', 'x-actor': 'usr_1' };
    const sig = signer.signRequest({ ...req, headers });
    expect(sig.headers).toBe('authorization,x-actor');
    const received = (m: Record<string, string[]>) => (name: string) => m[name] ?? [];
    const v = (m: Record<string, string[]>, patch: object = {}) =>
      signer.verifyRequest({ ...req, signature: { ...sig, ...patch }, header: received(m) });
    const honest = { authorization: ['Bearer alice'], 'x-actor': ['usr_1'] };
    expect(v(honest)).toMatchObject({ ok: true, headers: ['authorization', 'x-actor'] });
    const bad = { ok: false, reason: 'bad_signature' };
    expect(v({ ...honest, authorization: ['Bearer mallory'] })).toEqual(bad);
    expect(v({ 'x-actor': ['usr_1'] })).toEqual(bad);
    expect(v({ ...honest, authorization: ['Bearer alice', 'Bearer mallory'] })).toEqual(bad);
    expect(v(honest, { headers: 'x-actor' })).toEqual(bad);
    expect(v(honest, { headers: '' })).toEqual(bad);
    expect(v(honest, { headers: 'x-actor,authorization' })).toEqual(bad); // not sorted: not ours
    expect(v(honest, { headers: 'authorization,authorization,x-actor' })).toEqual(bad);
    expect(() => signer.signRequest({ ...req, headers: { 'grpc-timeout': '1S' } })).toThrow(TypeError);
    expect(() => signer.signRequest({ ...req, headers: { 'trace-bin': 'x' } })).toThrow(TypeError);
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

  it('signs responses and error statuses bound to the request, and detects any change', () => {
    const sig = signer.signRequest(req);
    const reply = Buffer.from([0x08, 0x01]);
    const call = { path: req.path, keyId: sig.keyId, nonce: sig.nonce, callerId: INGESTER, serverId: EGRESS };
    const ok = { code: 0 as const, body: reply };
    const s = signer.signResponse({ ...call, outcome: ok }) as string;
    const check = (patch: object) => signer.verifyResponse({ ...call, outcome: ok, signature: s, ...patch });
    expect(check({})).toBe(true);
    expect(check({ outcome: { code: 0, body: Buffer.from([0x08, 0x00]) } })).toBe(false);
    expect(check({ nonce: signer.signRequest(req).nonce })).toBe(false);
    expect(check({ callerId: BACKEND })).toBe(false);
    // The response key is the reverse pair: the caller's own request key does not forge it.
    expect(check({ callerId: EGRESS, serverId: INGESTER })).toBe(false);

    const refusal = { code: 6, reason: 'duplicate_event' };
    const e = signer.signResponse({ ...call, outcome: refusal }) as string;
    const checkError = (outcome: object) =>
      signer.verifyResponse({ ...call, outcome: outcome as typeof refusal, signature: e });
    expect(checkError(refusal)).toBe(true);
    expect(checkError({ code: 5, reason: 'duplicate_event' })).toBe(false);
    expect(checkError({ code: 6, reason: 'duplicate_event ' })).toBe(false);
    expect(checkError({ code: 0, body: Buffer.alloc(0) })).toBe(false);
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
    expect(ring.signingKey(pair).keyId).toBe('v1');
    const { state: accepting, version } = addKeyVersion(readKeyringFile(dir), t);
    writeKeyringFile(dir, accepting);
    t += 20;
    expect(ring.signingKey(pair).keyId).toBe('v1');
    expect(ring.verificationKey('v2', pair)).toBeDefined();
    writeKeyringFile(dir, activateKeyVersion(accepting, version, 5000, t));
    t += 20;
    expect(ring.signingKey(pair).keyId).toBe('v2');
    expect(ring.verificationKey('v1', pair, t + 4000)).toBeDefined();
    expect(ring.verificationKey('v1', pair, t + 5001)).toBeUndefined();
    // Each version derives its own pair key, cached as one KeyObject.
    const v2 = ring.signingKey(pair).key;
    expect(v2.equals(ring.verificationKey('v1', pair, t) as typeof v2)).toBe(false);
    expect(ring.signingKey(pair).key).toBe(v2);
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
    const active = ring.signingKey(pair).keyId;
    writeFileSync(join(dir, KEYRING_FILE), '{"active": 9, "keys": []}');
    t += 20;
    expect(ring.signingKey(pair).keyId).toBe(active);
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

  it('Redis unreachable: claims reject after the bounded wait with ERR_NONCE_STORE_UNAVAILABLE', async () => {
    const store = createRedisNonceStore({
      url: 'redis://127.0.0.1:1',
      prefix: 'zmtest:none:',
      readyWaitMs: 200,
    });
    try {
      await expect(store.claim('n', 1000)).rejects.toMatchObject({ code: 'ERR_NONCE_STORE_UNAVAILABLE' });
    } finally {
      await store.close();
    }
  });
});
