import { lstatSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CryptoError } from './errors.js';

/**
 * Reads and parses `<dir>/<name>`, a JSON file of key material; undefined when there is none. Refuses what
 * `loadMasterKey` refuses: a symlink, a non-regular file, a file group or others may read (ERR_KEYRING_INVALID).
 */
export function readPrivateJson(dir: string, name: string): { path: string; value: unknown } | undefined {
  const path = join(dir, name);
  let text: string;
  try {
    const stat = lstatSync(path);
    if (stat.isSymbolicLink()) throw new CryptoError('ERR_KEYRING_INVALID', `${path} is a symlink`);
    if (!stat.isFile()) throw new CryptoError('ERR_KEYRING_INVALID', `${path} is not a regular file`);
    if ((stat.mode & 0o077) !== 0) {
      throw new CryptoError(
        'ERR_KEYRING_INVALID',
        `${path} is readable by group or others (mode ${(stat.mode & 0o777).toString(8)}); chmod 600 it`,
      );
    }
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    if (err instanceof CryptoError) throw err;
    throw new CryptoError('ERR_KEYRING_INVALID', `cannot read ${path}`, { cause: err });
  }
  try {
    return { path, value: JSON.parse(text) };
  } catch (err) {
    throw new CryptoError('ERR_KEYRING_INVALID', `${path} is not JSON`, { cause: err });
  }
}
