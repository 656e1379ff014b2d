import { createSecretKey, type KeyObject } from 'node:crypto';
import { chmodSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CryptoError } from './errors.js';
import { derivePairKey, type KeyPair, type KeyringState, validateKeyring } from './message-keys.js';
import { readPrivateJson } from './private-file.js';

/**
 * The per-workload keyring in a service's secrets directory: for every key version that signs or still
 * verifies, exactly the pair keys of one workload (docs/decisions/0004-per-pair-hmac-keys.md, "Where the keys
 * come from"). Written by whoever holds the master key (the launcher, compose's init, a pod's init container),
 * read by the workload instead of the master key.
 */
export const WORKLOAD_KEYS_FILE = 'message-keys.json';
const FORMAT = 'zenmesh-message-keys-v1';

export interface WorkloadPairKey extends KeyPair {
  /** 32 bytes, base64url. */
  key: string;
}

export interface WorkloadKeysVersion {
  version: number;
  retiresAt?: string;
  pairs: WorkloadPairKey[];
}

export interface WorkloadKeys {
  format: typeof FORMAT;
  cluster: string;
  /** The SPIFFE ID of the one workload this file is for: every pair names it as sender or receiver. */
  workload: string;
  active: number;
  keys: WorkloadKeysVersion[];
}

/**
 * Derives the keys of `workload` with each of `peers`, both directions, for every version of `state` that is
 * live at `now` (retired versions are left out: they verify nothing).
 */
export function buildWorkloadKeys(o: {
  masterKey: Uint8Array;
  cluster: string;
  workload: string;
  peers: readonly string[];
  state: KeyringState;
  now?: number;
}): WorkloadKeys {
  const state = validateKeyring(o.state);
  const now = o.now ?? Date.now();
  const peers = [...new Set(o.peers)].filter((p) => p !== o.workload).sort();
  const keys = state.keys
    .filter((k) => k.retiresAt === undefined || Date.parse(k.retiresAt) > now)
    .map((k) => {
      const pairs: WorkloadPairKey[] = [];
      for (const peer of peers) {
        for (const pair of [
          { sender: o.workload, receiver: peer },
          { sender: peer, receiver: o.workload },
        ]) {
          const key = derivePairKey(o.masterKey, o.cluster, k.version, pair).toString('base64url');
          pairs.push({ ...pair, key });
        }
      }
      return { version: k.version, ...(k.retiresAt ? { retiresAt: k.retiresAt } : {}), pairs };
    });
  return { format: FORMAT, cluster: o.cluster, workload: o.workload, active: state.active, keys };
}

/** The peers a keyring file holds keys with (every SPIFFE ID but its own workload's). */
export const workloadKeysPeers = (w: WorkloadKeys): string[] => [
  ...new Set(w.keys.flatMap((k) => k.pairs.map((p) => (p.sender === w.workload ? p.receiver : p.sender)))),
];

/** Checks a parsed keyring file; throws ERR_KEYRING_INVALID naming the first problem. */
export function validateWorkloadKeys(value: unknown, where = WORKLOAD_KEYS_FILE): WorkloadKeys {
  const bad = (why: string) => new CryptoError('ERR_KEYRING_INVALID', `${where}: ${why}`);
  if (typeof value !== 'object' || value === null) throw bad('not an object');
  const v = value as Partial<WorkloadKeys>;
  if (v.format !== FORMAT) throw bad(`format must be ${FORMAT}`);
  if (typeof v.cluster !== 'string' || typeof v.workload !== 'string') throw bad('cluster and workload');
  // The version list has the shape of the cluster keyring (active present, not retiring, no duplicates).
  const versions = validateKeyring({ active: v.active, keys: v.keys }, where);
  const keys: WorkloadKeysVersion[] = [];
  for (const [i, k] of (v.keys as WorkloadKeysVersion[]).entries()) {
    if (!Array.isArray(k.pairs)) throw bad(`version ${k.version}: pairs must be a list`);
    const seen = new Set<string>();
    const pairs = k.pairs.map((p) => {
      const { sender, receiver, key } = (p ?? {}) as Partial<WorkloadPairKey>;
      if (typeof sender !== 'string' || typeof receiver !== 'string' || typeof key !== 'string')
        throw bad(`version ${k.version}: a pair needs sender, receiver and key`);
      // A file for one workload holds its own pairs only: anything else is a file for someone else.
      if (sender !== v.workload && receiver !== v.workload)
        throw bad(`version ${k.version}: ${sender} -> ${receiver} is not a pair of ${v.workload}`);
      if (seen.has(`${sender}|${receiver}`)) throw bad(`version ${k.version}: pair listed twice`);
      seen.add(`${sender}|${receiver}`);
      if (!/^[A-Za-z0-9_-]{43}$/.test(key)) throw bad(`version ${k.version}: a key is not 32 bytes`);
      return { sender, receiver, key };
    });
    const version = versions.keys[i] as { version: number; retiresAt?: string };
    keys.push({ ...version, pairs });
  }
  return { format: FORMAT, cluster: v.cluster, workload: v.workload, active: versions.active, keys };
}

/** Reads `<secretsDir>/message-keys.json` (see `readPrivateJson` for what is refused), or undefined. */
export function readWorkloadKeysFile(secretsDir: string): WorkloadKeys | undefined {
  const file = readPrivateJson(secretsDir, WORKLOAD_KEYS_FILE);
  return file && validateWorkloadKeys(file.value, file.path);
}

/** The file's text: what the launcher and the init steps write (with their own owner), mode 0600. */
export const serializeWorkloadKeys = (w: WorkloadKeys) =>
  `${JSON.stringify(validateWorkloadKeys(w), null, 2)}\n`;

/** Writes the keyring file atomically (temp file + rename), mode 0600, so a reloading reader never sees half. */
export function writeWorkloadKeysFile(secretsDir: string, w: WorkloadKeys): void {
  const path = join(secretsDir, WORKLOAD_KEYS_FILE);
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, serializeWorkloadKeys(w), { mode: 0o600 });
  chmodSync(tmp, 0o600);
  renameSync(tmp, path);
}

/** The keys of one file as KeyObjects: version → sender → receiver → key. */
export type PairKeyTable = Map<number, Map<string, Map<string, KeyObject>>>;

export function pairKeyTable(w: WorkloadKeys): PairKeyTable {
  const table: PairKeyTable = new Map();
  for (const k of w.keys) {
    const bySender = new Map<string, Map<string, KeyObject>>();
    for (const p of k.pairs) {
      let byReceiver = bySender.get(p.sender);
      if (!byReceiver) {
        byReceiver = new Map();
        bySender.set(p.sender, byReceiver);
      }
      byReceiver.set(p.receiver, createSecretKey(Buffer.from(p.key, 'base64url')));
    }
    table.set(k.version, bySender);
  }
  return table;
}
