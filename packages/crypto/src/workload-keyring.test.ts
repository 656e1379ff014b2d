// Issue 12 defect 10, closed: a workload holds only its own pair keys (message-keys.json), never the master key.
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdtempSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  activateKeyVersion,
  addKeyVersion,
  buildWorkloadKeys,
  createMessageKeyring,
  createMessageSigner,
  createWorkloadKeyring,
  INITIAL_KEYRING,
  readWorkloadKeysFile,
  WORKLOAD_KEYS_FILE,
  writeWorkloadKeysFile,
} from './index.js';

const TD = 'zenmesh.local';
const id = (sa: string) => `spiffe://${TD}/ns/zenmesh/sa/${sa}`;
const [CA, BACKEND, EGRESS, INGESTER, BFF, TOKEN] = [
  'ca',
  'backend',
  'egress',
  'ingester',
  'bff',
  'token',
].map(id) as [string, string, string, string, string, string];
const master = randomBytes(32);
const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** A secrets directory holding `workload`'s keyring for `peers`, as the launcher or an init step writes it. */
function keyringDir(workload: string, peers: string[], state = INITIAL_KEYRING) {
  const dir = mkdtempSync(join(tmpdir(), 'zm-wk-'));
  dirs.push(dir);
  writeWorkloadKeysFile(dir, buildWorkloadKeys({ masterKey: master, cluster: TD, workload, peers, state }));
  return dir;
}

const full = createMessageSigner({ keyring: createMessageKeyring({ masterKey: master, cluster: TD }) });
const body = Buffer.from('{}');
const path = '/zenmesh.v1.TenantService/ListTenants';

describe('a workload keyring', () => {
  // egress's pairs under MESH_POLICY: backend (it leases deliveries), ingester (Dispatch), ca (Renew …).
  const egressDir = keyringDir(EGRESS, [BACKEND, INGESTER, CA]);
  const bffDir = keyringDir(BFF, [BACKEND, TOKEN, CA]);

  it('holds exactly its pairs, both directions, equal to the keys derived from the master key', () => {
    const file = readWorkloadKeysFile(egressDir);
    expect(file?.workload).toBe(EGRESS);
    const pairs = file?.keys[0]?.pairs.map(
      (p) => `${p.sender.split('/').pop()}>${p.receiver.split('/').pop()}`,
    );
    expect(pairs?.sort()).toEqual(
      [
        'egress>backend',
        'backend>egress',
        'egress>ingester',
        'ingester>egress',
        'egress>ca',
        'ca>egress',
      ].sort(),
    );
    const own = createMessageSigner({
      keyring: createWorkloadKeyring({ secretsDir: egressDir, cluster: TD }),
    });
    // A request egress signs verifies at a backend that derives from the master key, and the other way round.
    const sig = own.signRequest({ path, callerId: EGRESS, serverId: BACKEND, body });
    expect(
      full.verifyRequest({ path, callerId: EGRESS, serverId: BACKEND, body, signature: sig }),
    ).toMatchObject({
      ok: true,
    });
    const back = full.signRequest({ path, callerId: INGESTER, serverId: EGRESS, body });
    expect(
      own.verifyRequest({ path, callerId: INGESTER, serverId: EGRESS, body, signature: back }),
    ).toMatchObject({ ok: true });
  });

  it('ATTACK: with egress’s keyring, nothing signs as backend → bff, and nothing egress can sign passes at the bff', () => {
    const stolen = createWorkloadKeyring({ secretsDir: egressDir, cluster: TD });
    // 1. The key itself is not there to take.
    expect(() => stolen.signingKey({ sender: BACKEND, receiver: BFF })).toThrow(
      expect.objectContaining({ code: 'ERR_NO_PAIR_KEY' }),
    );
    expect(stolen.verificationKey('v1', { sender: BACKEND, receiver: BFF })).toBeUndefined();
    const forger = createMessageSigner({ keyring: stolen });
    expect(() => forger.signRequest({ path, callerId: BACKEND, serverId: BFF, body })).toThrow(
      expect.objectContaining({ code: 'ERR_NO_PAIR_KEY' }),
    );
    // 2. A backend → bff answer forged with every key egress holds: the bff (its own keyring) refuses each one.
    const bff = createMessageSigner({ keyring: createWorkloadKeyring({ secretsDir: bffDir, cluster: TD }) });
    const request = full.signRequest({ path, callerId: BFF, serverId: BACKEND, body });
    const call = { path, keyId: request.keyId, nonce: request.nonce, callerId: BFF, serverId: BACKEND };
    const outcome = { code: 0 as const, body: Buffer.from('forged') };
    const file = readWorkloadKeysFile(egressDir);
    for (const p of file?.keys[0]?.pairs ?? []) {
      const signer = createMessageSigner({
        keyring: {
          signingKey: () => stolen.signingKey(p),
          verificationKey: () => stolen.verificationKey('v1', p),
          verifies: () => true,
          state: () => INITIAL_KEYRING,
        },
      });
      const forged = signer.signResponse({ ...call, outcome }) as string;
      expect(forged).toMatch(/^[A-Za-z0-9_-]{43}$/);
      expect(bff.verifyResponse({ ...call, outcome, signature: forged })).toBe(false);
    }
    // The genuine answer (the backend's key) verifies: the refusal above is about the key, not the format.
    const genuine = full.signResponse({ ...call, outcome }) as string;
    expect(bff.verifyResponse({ ...call, outcome, signature: genuine })).toBe(true);
  });

  it('refuses a request from a pair it holds no key for as no_pair_key (a live version), not unknown_key_id', () => {
    const own = createMessageSigner({
      keyring: createWorkloadKeyring({ secretsDir: egressDir, cluster: TD }),
    });
    // The bff has a valid SVID and a master-derived signature, but egress was given no key for bff → egress.
    const sig = full.signRequest({ path, callerId: BFF, serverId: EGRESS, body });
    expect(own.verifyRequest({ path, callerId: BFF, serverId: EGRESS, body, signature: sig })).toEqual({
      ok: false,
      reason: 'no_pair_key',
    });
    expect(
      own.verifyRequest({ path, callerId: BFF, serverId: EGRESS, body, signature: { ...sig, keyId: 'v7' } }),
    ).toEqual({ ok: false, reason: 'unknown_key_id' });
  });

  it('follows a rewritten file (key rotation) and keeps the last good keys when it breaks', () => {
    const dir = keyringDir(EGRESS, [BACKEND]);
    let now = Date.now();
    const errors: unknown[] = [];
    const ring = createWorkloadKeyring({
      secretsDir: dir,
      cluster: TD,
      reloadMs: 0,
      clock: () => now,
      onReloadError: (e) => errors.push(e),
    });
    expect(ring.signingKey({ sender: EGRESS, receiver: BACKEND }).keyId).toBe('v1');
    const two = activateKeyVersion(addKeyVersion(INITIAL_KEYRING).state, 2, 60_000, now);
    writeWorkloadKeysFile(
      dir,
      buildWorkloadKeys({ masterKey: master, cluster: TD, workload: EGRESS, peers: [BACKEND], state: two }),
    );
    now += 10;
    expect(ring.signingKey({ sender: EGRESS, receiver: BACKEND }).keyId).toBe('v2');
    expect(ring.verifies('v1', now)).toBe(true);
    expect(ring.verifies('v1', now + 120_000)).toBe(false);
    // A file for another workload is not taken over.
    writeWorkloadKeysFile(
      dir,
      buildWorkloadKeys({ masterKey: master, cluster: TD, workload: BFF, peers: [BACKEND], state: two }),
    );
    utimesSync(join(dir, WORKLOAD_KEYS_FILE), new Date(), new Date(now + 5000));
    now += 10;
    expect(ring.signingKey({ sender: EGRESS, receiver: BACKEND }).keyId).toBe('v2');
    expect(String(errors[0])).toMatch(/is now for .*sa\/bff, not .*sa\/egress/);
  });

  it('refuses a loose mode, a symlink, a pair of other workloads and another trust domain', () => {
    const dir = keyringDir(EGRESS, [BACKEND]);
    const file = join(dir, WORKLOAD_KEYS_FILE);
    chmodSync(file, 0o640);
    expect(() => readWorkloadKeysFile(dir)).toThrow(/readable by group or others \(mode 640\)/);
    chmodSync(file, 0o600);
    const other = mkdtempSync(join(tmpdir(), 'zm-wk-'));
    dirs.push(other);
    symlinkSync(file, join(other, WORKLOAD_KEYS_FILE));
    expect(() => readWorkloadKeysFile(other)).toThrow(/is a symlink/);
    const keys = buildWorkloadKeys({
      masterKey: master,
      cluster: TD,
      workload: EGRESS,
      peers: [BACKEND],
      state: INITIAL_KEYRING,
    });
    const smuggled = structuredClone(keys);
    smuggled.keys[0]?.pairs.push({ sender: BACKEND, receiver: BFF, key: 'A'.repeat(43) });
    const bad = mkdtempSync(join(tmpdir(), 'zm-wk-'));
    dirs.push(bad);
    writeFileSync(join(bad, WORKLOAD_KEYS_FILE), JSON.stringify(smuggled), { mode: 0o600 });
    expect(() => readWorkloadKeysFile(bad)).toThrow(/sa\/backend -> .*sa\/bff is not a pair of .*sa\/egress/);
    expect(() => createWorkloadKeyring({ secretsDir: dir, cluster: 'other.example' })).toThrow(
      /is for trust domain zenmesh.local, not other.example/,
    );
    expect(() => createWorkloadKeyring({ secretsDir: other.replace(/$/, '-none'), cluster: TD })).toThrow(
      /message-keys\.json is missing/,
    );
  });
});
