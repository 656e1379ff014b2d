import { chmodSync, existsSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CryptoError } from './errors.js';
import { loadMasterKey, MASTER_KEY_FILE } from './master-key.js';
import { readPrivateJson } from './private-file.js';
import { createSecretBox, createSecretBoxFromKey, type SecretBox, secretBoxKey } from './secret-box.js';

/**
 * The sealing keys of one service in its secrets directory, instead of the master key: for each purpose it
 * seals with, the box key `secretBoxKey(master, purpose)` (so everything sealed before opens unchanged), and
 * nothing else — no HMAC pair key, no join-token key can be derived from it
 * (docs/decisions/0004-per-pair-hmac-keys.md, "What remains").
 */
export const SEALING_KEYS_FILE = 'sealing-keys.json';
const FORMAT = 'zenmesh-sealing-keys-v1';
const PURPOSE = /^[a-z0-9-]+$/;

export interface SealingKeys {
  format: typeof FORMAT;
  /** purpose → 32-byte box key, base64url. */
  keys: Record<string, string>;
}

export function deriveSealingKeys(masterKey: Uint8Array, purposes: readonly string[]): SealingKeys {
  const keys: Record<string, string> = {};
  for (const p of [...purposes].sort()) keys[p] = secretBoxKey(masterKey, p).toString('base64url');
  return { format: FORMAT, keys };
}

export function validateSealingKeys(value: unknown, where = SEALING_KEYS_FILE): SealingKeys {
  const bad = (why: string) => new CryptoError('ERR_KEYRING_INVALID', `${where}: ${why}`);
  const v = (value ?? {}) as Partial<SealingKeys>;
  if (v.format !== FORMAT) throw bad(`format must be ${FORMAT}`);
  if (typeof v.keys !== 'object' || v.keys === null) throw bad('keys must be an object');
  const keys: Record<string, string> = {};
  for (const [purpose, key] of Object.entries(v.keys)) {
    if (!PURPOSE.test(purpose)) throw bad(`bad purpose ${JSON.stringify(purpose)}`);
    if (typeof key !== 'string' || !/^[A-Za-z0-9_-]{43}$/.test(key))
      throw bad(`key of ${purpose} is not 32 bytes`);
    keys[purpose] = key;
  }
  return { format: FORMAT, keys };
}

export const serializeSealingKeys = (k: SealingKeys) =>
  `${JSON.stringify(validateSealingKeys(k), null, 2)}\n`;

export function writeSealingKeysFile(dir: string, k: SealingKeys): void {
  const path = join(dir, SEALING_KEYS_FILE);
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, serializeSealingKeys(k), { mode: 0o600 });
  chmodSync(tmp, 0o600);
  renameSync(tmp, path);
}

/**
 * The secret boxes of a service's secrets directory: from sealing-keys.json when it is there (a purpose it
 * does not hold is ERR_SEALING_KEY_MISSING at once, not a failure on first use), else from master.key (tests,
 * older layouts). Neither present: ERR_MASTER_KEY_UNREADABLE, as before.
 */
export function openSecretBoxes(secretsDir: string): (purpose: string) => SecretBox {
  const file = readPrivateJson(secretsDir, SEALING_KEYS_FILE);
  if (file) {
    const { keys } = validateSealingKeys(file.value, file.path);
    return (purpose) => {
      const key = Object.hasOwn(keys, purpose) ? keys[purpose] : undefined;
      if (key === undefined)
        throw new CryptoError('ERR_SEALING_KEY_MISSING', `${file.path} holds no key for ${purpose}`);
      return createSecretBoxFromKey(Buffer.from(key, 'base64url'));
    };
  }
  if (!existsSync(join(secretsDir, MASTER_KEY_FILE))) {
    // Same one-line refusal as before, naming both ways a key can be given.
    throw new CryptoError(
      'ERR_MASTER_KEY_UNREADABLE',
      `${secretsDir} holds neither ${SEALING_KEYS_FILE} nor ${MASTER_KEY_FILE}`,
    );
  }
  const master = loadMasterKey(secretsDir);
  return (purpose) => createSecretBox(master, purpose);
}
