import { createSecretKey, hkdfSync, type KeyObject } from 'node:crypto';
import { chmodSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CryptoError } from './errors.js';

/** The keyring file in the secrets directory: which key version signs, which ones still verify. */
export const KEYRING_FILE = 'hmac-keyring.json';

export interface KeyVersion {
  version: number;
  /** ISO time after which this version no longer verifies; absent while it is live. */
  retiresAt?: string;
}

export interface KeyringState {
  /** The version every process signs with. */
  active: number;
  keys: KeyVersion[];
}

/** What a cluster uses before anyone ever rotated: version 1, alone. */
export const INITIAL_KEYRING: KeyringState = { active: 1, keys: [{ version: 1 }] };

const CLUSTER = /^[a-z0-9._-]{1,255}$/;
// A SPIFFE ID of the mesh (SPIFFE-ID §2): no `|`, no line break, so the HKDF info below is unambiguous.
const WORKLOAD_ID = /^spiffe:\/\/([a-z0-9._-]{1,255})(\/[A-Za-z0-9._-]+)+$/;

/** Who signs and who verifies one direction of traffic: the key of a message is the key of its pair. */
export interface KeyPair {
  /** SPIFFE ID of the workload that signs (a request's caller; a response's server). */
  sender: string;
  /** SPIFFE ID of the workload that verifies. */
  receiver: string;
}

/**
 * The HMAC key of one direction between two workloads, for one cluster (trust domain) and key version:
 * HKDF-SHA256 of the 32-byte master key with `info` =
 * `zenmesh/message-hmac/<cluster>/v<version>|<sender SPIFFE ID>|<receiver SPIFFE ID>` (RFC 5869 §3.2:
 * distinct info, independent keys). A key proves who signed *to whom*: a workload holding only the keys of
 * its own pairs cannot sign as another service (docs/decisions/0004-per-pair-hmac-keys.md). Both IDs must be
 * in `cluster`. No salt: the master key is already uniformly random (RFC 5869 §3.1).
 */
export function derivePairKey(
  masterKey: Uint8Array,
  cluster: string,
  version: number,
  pair: KeyPair,
): Buffer {
  if (masterKey.length !== 32) throw new TypeError('derivePairKey: master key must be 32 bytes');
  if (!CLUSTER.test(cluster)) throw new TypeError('derivePairKey: cluster must be a trust domain name');
  if (!Number.isSafeInteger(version) || version < 1) throw new TypeError('derivePairKey: bad version');
  for (const id of [pair.sender, pair.receiver]) {
    if (WORKLOAD_ID.exec(id)?.[1] !== cluster) {
      throw new TypeError(`derivePairKey: ${JSON.stringify(id)} is not a SPIFFE ID of ${cluster}`);
    }
  }
  const info = `zenmesh/message-hmac/${cluster}/v${version}|${pair.sender}|${pair.receiver}`;
  return Buffer.from(hkdfSync('sha256', masterKey, Buffer.alloc(0), info, 32));
}

/** Key ids on the wire are `v<version>`. */
export const keyIdFor = (version: number) => `v${version}`;

export function parseKeyId(keyId: string): number | undefined {
  const m = /^v([1-9]\d{0,8})$/.exec(keyId);
  return m ? Number(m[1]) : undefined;
}

/** Checks the shape of a keyring; throws ERR_KEYRING_INVALID naming the first problem. */
export function validateKeyring(value: unknown, where = 'keyring'): KeyringState {
  const bad = (why: string) => new CryptoError('ERR_KEYRING_INVALID', `${where}: ${why}`);
  if (typeof value !== 'object' || value === null) throw bad('not an object');
  const { active, keys } = value as { active?: unknown; keys?: unknown };
  if (!Number.isSafeInteger(active) || (active as number) < 1) throw bad('active must be a version >= 1');
  if (!Array.isArray(keys) || keys.length === 0) throw bad('keys must be a non-empty list');
  const seen = new Set<number>();
  const out: KeyVersion[] = [];
  for (const k of keys as unknown[]) {
    const { version, retiresAt } = (k ?? {}) as { version?: unknown; retiresAt?: unknown };
    if (!Number.isSafeInteger(version) || (version as number) < 1) throw bad('key version must be >= 1');
    if (seen.has(version as number)) throw bad(`version ${version} listed twice`);
    seen.add(version as number);
    if (retiresAt !== undefined && (typeof retiresAt !== 'string' || Number.isNaN(Date.parse(retiresAt)))) {
      throw bad(`retiresAt of version ${version} is not a date`);
    }
    out.push(
      retiresAt === undefined ? { version: version as number } : { version: version as number, retiresAt },
    );
  }
  const activeKey = out.find((k) => k.version === active);
  if (!activeKey) throw bad(`active version ${active} is not in keys`);
  if (activeKey.retiresAt !== undefined) throw bad('the active version cannot be retiring');
  return { active: active as number, keys: out };
}

/** Reads `<secretsDir>/hmac-keyring.json`; a missing file is the initial keyring (version 1). */
export function readKeyringFile(secretsDir: string): KeyringState {
  const path = join(secretsDir, KEYRING_FILE);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return structuredClone(INITIAL_KEYRING);
    throw new CryptoError('ERR_KEYRING_INVALID', `cannot read ${path}`, { cause: err });
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new CryptoError('ERR_KEYRING_INVALID', `${path} is not JSON`, { cause: err });
  }
  return validateKeyring(parsed, path);
}

/** Writes the keyring atomically (temp file + rename), mode 0600, so readers never see half a file. */
export function writeKeyringFile(secretsDir: string, state: KeyringState): void {
  const valid = validateKeyring(state);
  const path = join(secretsDir, KEYRING_FILE);
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(valid, null, 2)}\n`, { mode: 0o600 });
  chmodSync(tmp, 0o600);
  renameSync(tmp, path);
}

const isLive = (k: KeyVersion, now: number) => k.retiresAt === undefined || Date.parse(k.retiresAt) > now;

/** Whether `keyId` names a version of `state` that still verifies at `now`. */
export function versionVerifies(state: KeyringState, keyId: string, now: number): boolean {
  const version = parseKeyId(keyId);
  const entry = version === undefined ? undefined : state.keys.find((k) => k.version === version);
  return entry !== undefined && isLive(entry, now);
}

/** Rotation step 1: a new version every process accepts, while the current one still signs. */
export function addKeyVersion(
  state: KeyringState,
  now = Date.now(),
): { state: KeyringState; version: number } {
  const version = Math.max(...state.keys.map((k) => k.version)) + 1;
  const keys = [...state.keys.filter((k) => isLive(k, now)), { version }];
  return { state: { active: state.active, keys }, version };
}

/** Rotation step 2: `version` signs from now on; every other version verifies until `now + retireAfterMs`. */
export function activateKeyVersion(
  state: KeyringState,
  version: number,
  retireAfterMs: number,
  now = Date.now(),
): KeyringState {
  if (!state.keys.some((k) => k.version === version))
    throw new TypeError(`version ${version} is not in keys`);
  const retiresAt = new Date(now + retireAfterMs).toISOString();
  return {
    active: version,
    keys: state.keys
      .filter((k) => isLive(k, now))
      .map((k) =>
        k.version === version ? { version } : { version: k.version, retiresAt: k.retiresAt ?? retiresAt },
      ),
  };
}

export interface MessageKeyring {
  /** The key new messages from `pair.sender` to `pair.receiver` are signed with (the active version). */
  signingKey(pair: KeyPair): { keyId: string; key: KeyObject };
  /**
   * The key of `pair` for a key id if that version verifies at `now`; undefined for unknown or retired ids
   * and for IDs outside the cluster.
   */
  verificationKey(keyId: string, pair: KeyPair, now?: number): KeyObject | undefined;
  /**
   * True when `keyId` names a version that verifies at `now`: a verification key missing for such an id means
   * this process holds no key for the pair (`no_pair_key`), not that the version is unknown.
   */
  verifies(keyId: string, now?: number): boolean;
  /** The keyring as last read. */
  state(): KeyringState;
}

export interface MessageKeyringOptions {
  masterKey: Uint8Array;
  /** The trust domain: keys of one cluster never verify in another. */
  cluster: string;
  /** Where the keyring file lives; when absent the keyring is `state` (or the initial one), fixed. */
  secretsDir?: string;
  state?: KeyringState;
  /** How often (at most) the file is checked for changes. Default 1000 ms. */
  reloadMs?: number;
  /** Told when a changed file cannot be read; the last good keyring stays in force. */
  onReloadError?: (err: unknown) => void;
  onReload?: (state: KeyringState) => void;
  clock?: () => number;
}

/**
 * The live keyring of one process. The file is re-read when its mtime, size or inode change (checked at
 * most every `reloadMs`, lazily on use, so an idle process costs nothing), which is how `zenmesh keys rotate`
 * reaches every running service without a restart.
 */
export function createMessageKeyring(options: MessageKeyringOptions): MessageKeyring {
  const { masterKey, cluster, secretsDir } = options;
  const clock = options.clock ?? Date.now;
  const reloadMs = options.reloadMs ?? 1000;
  if (masterKey.length !== 32) throw new TypeError('createMessageKeyring: master key must be 32 bytes');
  if (!CLUSTER.test(cluster))
    throw new TypeError('createMessageKeyring: cluster must be a trust domain name');
  let state = validateKeyring(options.state ?? (secretsDir ? readKeyringFile(secretsDir) : INITIAL_KEYRING));
  // Derived once per (version, pair) and kept as a KeyObject: HKDF and key import stay off the per-message
  // path (createHmac with a cached KeyObject is ~5x cheaper than with a raw key, docs/performance.md).
  const derived = new Map<number, Map<string, Map<string, KeyObject | null>>>();
  let cached = 0;
  /** The receiver → key map of one (version, sender); nested maps, so no joined string key per message. */
  const slot = (version: number, sender: string) => {
    let bySender = derived.get(version);
    if (!bySender) {
      bySender = new Map();
      derived.set(version, bySender);
    }
    let byReceiver = bySender.get(sender);
    if (!byReceiver) {
      byReceiver = new Map();
      bySender.set(sender, byReceiver);
    }
    return byReceiver;
  };
  const keyFor = (version: number, pair: KeyPair): KeyObject | undefined => {
    let key = slot(version, pair.sender).get(pair.receiver);
    if (key === undefined) {
      try {
        key = createSecretKey(derivePairKey(masterKey, cluster, version, pair));
      } catch {
        key = null; // an ID outside the cluster: never a key
      }
      if (++cached > MAX_DERIVED) {
        derived.clear();
        cached = 1;
      }
      slot(version, pair.sender).set(pair.receiver, key);
    }
    return key ?? undefined;
  };
  let lastCheck = clock();
  let fingerprint = secretsDir ? statFingerprint(join(secretsDir, KEYRING_FILE)) : '';

  const refresh = () => {
    if (!secretsDir) return;
    const now = clock();
    if (now - lastCheck < reloadMs) return;
    lastCheck = now;
    const current = statFingerprint(join(secretsDir, KEYRING_FILE));
    if (current === fingerprint) return;
    if (current === 'absent') {
      // A deleted keyring is an operator mistake, not a rotation back to version 1: keep what we have.
      options.onReloadError?.(new CryptoError('ERR_KEYRING_INVALID', `${KEYRING_FILE} disappeared`));
      fingerprint = current;
      return;
    }
    try {
      state = readKeyringFile(secretsDir);
      fingerprint = current;
      options.onReload?.(state);
    } catch (err) {
      options.onReloadError?.(err);
    }
  };

  return {
    signingKey(pair) {
      refresh();
      const key = keyFor(state.active, pair);
      if (!key)
        throw new CryptoError(
          'ERR_NO_PAIR_KEY',
          `signingKey: ${pair.sender} -> ${pair.receiver} is not a pair of ${cluster}`,
        );
      return { keyId: keyIdFor(state.active), key };
    },
    verificationKey(keyId, pair, now = clock()) {
      refresh();
      const version = parseKeyId(keyId);
      if (version === undefined) return undefined;
      const entry = state.keys.find((k) => k.version === version);
      return entry && isLive(entry, now) ? keyFor(version, pair) : undefined;
    },
    verifies(keyId, now = clock()) {
      refresh();
      return versionVerifies(state, keyId, now);
    },
    state: () => {
      refresh();
      return structuredClone(state);
    },
  };
}

/** Pairs × versions in the cache at most; a mesh has a few dozen, so this only bounds a hostile flood. */
const MAX_DERIVED = 4096;

export function statFingerprint(path: string): string {
  try {
    const s = statSync(path);
    return `${s.ino}:${s.size}:${s.mtimeMs}`;
  } catch {
    return 'absent';
  }
}
