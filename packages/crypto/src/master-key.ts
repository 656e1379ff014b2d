import { lstatSync, readFileSync, realpathSync } from 'node:fs';
import { join } from 'node:path';
import { CryptoError } from './errors.js';

export const MASTER_KEY_BYTES = 32;
export const MASTER_KEY_FILE = 'master.key';

/**
 * Reads `<secretsDir>/master.key`: the base64 text of exactly 32 random bytes. Refuses a symlink (a
 * planted link could point the service at key material it was never meant to read), a file outside the
 * directory, a world- or group-readable file, and any other length. The key itself never appears in an error.
 */
export function loadMasterKey(secretsDir: string): Buffer {
  const path = join(secretsDir, MASTER_KEY_FILE);
  let text: string;
  try {
    const stat = lstatSync(path);
    if (stat.isSymbolicLink()) {
      throw new CryptoError('ERR_MASTER_KEY_UNREADABLE', `${path} is a symlink; refusing to follow it`);
    }
    if (!stat.isFile()) throw new CryptoError('ERR_MASTER_KEY_UNREADABLE', `${path} is not a regular file`);
    if ((stat.mode & 0o077) !== 0) {
      throw new CryptoError(
        'ERR_MASTER_KEY_UNREADABLE',
        `${path} is readable by group or others (mode ${(stat.mode & 0o777).toString(8)}); chmod 600 it`,
      );
    }
    if (!realpathSync(path).startsWith(realpathSync(secretsDir))) {
      throw new CryptoError('ERR_MASTER_KEY_UNREADABLE', `${path} resolves outside ${secretsDir}`);
    }
    text = readFileSync(path, 'utf8').trim();
  } catch (err) {
    if (err instanceof CryptoError) throw err;
    throw new CryptoError('ERR_MASTER_KEY_UNREADABLE', `cannot read master key at ${path}`, { cause: err });
  }
  return parseMasterKey(text, path);
}

/** Decodes and validates master key text (base64 or base64url of 32 bytes). */
export function parseMasterKey(text: string, where = 'master key'): Buffer {
  if (!/^[A-Za-z0-9+/_-]+={0,2}$/.test(text)) {
    throw new CryptoError('ERR_MASTER_KEY_INVALID', `${where} is not base64 text`);
  }
  const key = Buffer.from(text, 'base64');
  if (key.length !== MASTER_KEY_BYTES) {
    throw new CryptoError(
      'ERR_MASTER_KEY_INVALID',
      `${where} must decode to ${MASTER_KEY_BYTES} bytes, got ${key.length}`,
    );
  }
  return key;
}
