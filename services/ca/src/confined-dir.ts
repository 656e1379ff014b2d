import { randomBytes } from 'node:crypto';
import {
  closeSync,
  constants,
  fstatSync,
  lstatSync,
  mkdirSync,
  openSync,
  readFileSync,
  realpathSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { CaError } from './errors.js';

/** File access limited to one directory: flat names only, symlinks refused, writes atomic. */
export interface ConfinedDir {
  readonly path: string;
  /** The file's text, or undefined when it does not exist. */
  read(name: string): string | undefined;
  /** Writes via a temporary file and rename, so a crash never leaves half a file. */
  write(name: string, data: string, mode?: number): void;
  append(name: string, data: string): void;
  remove(name: string): void;
}

const NAME = /^[a-z0-9][a-z0-9._-]{0,100}$/;

function checkName(name: string): void {
  // Flat names only: no separators, no '..', so a name can never leave the directory.
  if (!NAME.test(name) || name.includes('..')) throw new TypeError(`bad file name ${JSON.stringify(name)}`);
}

/**
 * Opens (creating it 0700 when missing) a directory for the CA's secrets and state. The directory itself must
 * not be a symlink; every read opens with O_NOFOLLOW, so a planted link (pointing the CA at key material it
 * was never meant to read, or at a file an attacker controls) is refused instead of followed.
 */
export function openConfinedDir(dir: string): ConfinedDir {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const stat = lstatSync(dir);
  if (stat.isSymbolicLink() || !stat.isDirectory()) {
    throw new CaError('ERR_SECRETS_DIR', `${dir} is a symlink or not a directory; refusing to use it`);
  }
  const real = realpathSync(dir);
  const full = (name: string) => {
    checkName(name);
    return join(real, name);
  };
  const noFollow = (err: unknown, path: string): never => {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ELOOP' || code === 'EMLINK') {
      throw new CaError('ERR_SECRETS_DIR', `${path} is a symlink; refusing to follow it`, { cause: err });
    }
    throw new CaError('ERR_SECRETS_DIR', `cannot read ${path}: ${code ?? 'error'}`, { cause: err });
  };
  return {
    path: real,
    read(name) {
      const path = full(name);
      let fd: number;
      try {
        fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
        return noFollow(err, path);
      }
      try {
        if (!fstatSync(fd).isFile()) throw new CaError('ERR_SECRETS_DIR', `${path} is not a regular file`);
        return readFileSync(fd, 'utf8');
      } finally {
        closeSync(fd);
      }
    },
    write(name, data, mode = 0o600) {
      const path = full(name);
      const tmp = `${path}.${randomBytes(6).toString('hex')}.tmp`;
      const fd = openSync(
        tmp,
        constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW,
        mode,
      );
      try {
        writeFileSync(fd, data);
      } finally {
        closeSync(fd);
      }
      // rename(2) replaces a symlink at `path` itself; it never writes through it.
      renameSync(tmp, path);
    },
    append(name, data) {
      const path = full(name);
      let fd: number;
      try {
        fd = openSync(
          path,
          constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | constants.O_NOFOLLOW,
          0o600,
        );
      } catch (err) {
        return noFollow(err, path);
      }
      try {
        writeFileSync(fd, data);
      } finally {
        closeSync(fd);
      }
    },
    remove(name) {
      rmSync(full(name), { force: true });
    },
  };
}
