import { join } from 'node:path';
import { CryptoError } from './errors.js';
import {
  type KeyringState,
  keyIdFor,
  type MessageKeyring,
  parseKeyId,
  statFingerprint,
  versionVerifies,
} from './message-keys.js';
import {
  type PairKeyTable,
  pairKeyTable,
  readWorkloadKeysFile,
  WORKLOAD_KEYS_FILE,
  type WorkloadKeys,
} from './workload-keys.js';

export interface WorkloadKeyringOptions {
  /** Holds message-keys.json (and no master key). */
  secretsDir: string;
  /** The trust domain this process belongs to: a file for another one is refused. */
  cluster: string;
  /** How often (at most) the file is checked for changes. Default 1000 ms. */
  reloadMs?: number;
  onReloadError?: (err: unknown) => void;
  onReload?: (state: KeyringState) => void;
  clock?: () => number;
}

export interface WorkloadKeyring extends MessageKeyring {
  /** The SPIFFE ID the file is for. */
  readonly workload: string;
}

const stateOf = (w: WorkloadKeys): KeyringState => ({
  active: w.active,
  keys: w.keys.map((k) =>
    k.retiresAt ? { version: k.version, retiresAt: k.retiresAt } : { version: k.version },
  ),
});

/**
 * The keyring of a workload that holds only its own pair keys (message-keys.json), never the master key: a
 * pair it has no key for can be neither signed (ERR_NO_PAIR_KEY) nor verified (`no_pair_key`). The file is
 * re-read when it changes, like the cluster keyring (`zenmesh keys rotate` rewrites it); a file for another
 * workload or trust domain, or a broken one, keeps the last good keys in force.
 */
export function createWorkloadKeyring(options: WorkloadKeyringOptions): WorkloadKeyring {
  const { secretsDir, cluster } = options;
  const clock = options.clock ?? Date.now;
  const reloadMs = options.reloadMs ?? 1000;
  const path = join(secretsDir, WORKLOAD_KEYS_FILE);
  const load = (expected?: string): { file: WorkloadKeys; table: PairKeyTable; state: KeyringState } => {
    const file = readWorkloadKeysFile(secretsDir);
    if (!file) throw new CryptoError('ERR_KEYRING_INVALID', `${path} is missing`);
    if (file.cluster !== cluster) {
      throw new CryptoError(
        'ERR_KEYRING_INVALID',
        `${path} is for trust domain ${file.cluster}, not ${cluster}`,
      );
    }
    if (expected !== undefined && file.workload !== expected) {
      throw new CryptoError('ERR_KEYRING_INVALID', `${path} is now for ${file.workload}, not ${expected}`);
    }
    return { file, table: pairKeyTable(file), state: stateOf(file) };
  };
  let fingerprint = statFingerprint(path);
  let current = load();
  const workload = current.file.workload;
  let lastCheck = clock();

  const refresh = () => {
    const now = clock();
    if (now - lastCheck < reloadMs) return;
    lastCheck = now;
    const seen = statFingerprint(path);
    if (seen === fingerprint) return;
    fingerprint = seen;
    try {
      current = load(workload);
      options.onReload?.(structuredClone(current.state));
    } catch (err) {
      options.onReloadError?.(err);
    }
  };
  const keyFor = (version: number, sender: string, receiver: string) =>
    current.table.get(version)?.get(sender)?.get(receiver);

  return {
    workload,
    signingKey(pair) {
      refresh();
      const key = keyFor(current.file.active, pair.sender, pair.receiver);
      if (!key) {
        throw new CryptoError(
          'ERR_NO_PAIR_KEY',
          `no key for ${pair.sender} -> ${pair.receiver} in ${path} (this workload is ${workload})`,
        );
      }
      return { keyId: keyIdFor(current.file.active), key };
    },
    verificationKey(keyId, pair, now = clock()) {
      refresh();
      const version = parseKeyId(keyId);
      if (version === undefined || !versionVerifies(current.state, keyId, now)) return undefined;
      return keyFor(version, pair.sender, pair.receiver);
    },
    verifies(keyId, now = clock()) {
      refresh();
      return versionVerifies(current.state, keyId, now);
    },
    state: () => {
      refresh();
      return structuredClone(current.state);
    },
  };
}
