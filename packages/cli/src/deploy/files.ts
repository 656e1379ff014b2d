import {
  chmodSync,
  chownSync,
  existsSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join } from 'node:path';
import { CliError } from '../errors.js';

/** uid:gid that files are handed to (the container user that reads them); undefined keeps the writer's. */
export interface Owner {
  uid: number;
  gid: number;
}

export function parseOwner(value: string): Owner {
  const m = /^(\d{1,10}):(\d{1,10})$/.exec(value);
  if (m === null) throw new CliError('ERR_USAGE', `expected uid:gid, got ${JSON.stringify(value)}`);
  return { uid: Number(m[1]), gid: Number(m[2]) };
}

/** A directory only its owner may enter (0700, or `mode`), handed to `owner`. */
export function ensureDir(dir: string, owner?: Owner, mode = 0o700): void {
  mkdirSync(dir, { recursive: true, mode });
  chmodSync(dir, mode);
  if (owner) chownSync(dir, owner.uid, owner.gid);
}

/**
 * Writes a file atomically (temp file + rename, so a reader never sees half a secret) with `mode` (0600 by
 * default) and hands it to `owner`.
 */
export function writeFileAtomic(file: string, data: string | Uint8Array, owner?: Owner, mode = 0o600): void {
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, data, { mode });
  chmodSync(tmp, mode);
  if (owner) chownSync(tmp, owner.uid, owner.gid);
  renameSync(tmp, file);
}

/** Keeps an existing file (a key or password made on an earlier run), or creates it from `make()`. */
export function keepOrCreate(file: string, make: () => string, owner?: Owner, mode = 0o600): string {
  if (existsSync(file)) {
    if (lstatSync(file).isSymbolicLink()) {
      throw new CliError('ERR_STATE', `${file} is a symlink; refusing to use it`);
    }
    chmodSync(file, mode);
    if (owner) chownSync(file, owner.uid, owner.gid);
    return readFileSync(file, 'utf8').trim();
  }
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  const value = make();
  writeFileAtomic(file, `${value}\n`, owner, mode);
  return value;
}

/**
 * Reads a one-value secret file (a join token, a URL with a password): trimmed, not empty, a regular file,
 * not readable by everyone. The value never appears in an error.
 */
export function readSecretFile(file: string, what: string): string {
  let text: string;
  try {
    const stat = lstatSync(file);
    if (!stat.isFile()) throw new CliError('ERR_STATE', `${what}: ${file} is not a regular file`);
    if ((stat.mode & 0o004) !== 0) {
      throw new CliError('ERR_STATE', `${what}: ${file} is readable by everyone; chmod o-r it`);
    }
    text = readFileSync(file, 'utf8').trim();
  } catch (err) {
    if (err instanceof CliError) throw err;
    throw new CliError(
      'ERR_STATE',
      `${what}: cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`,
      { cause: err },
    );
  }
  if (text === '') throw new CliError('ERR_STATE', `${what}: ${file} is empty`);
  return text;
}

/** Hands a directory and everything below it to `owner` (symlinks themselves, never their targets). */
export function chownTree(dir: string, owner: Owner): void {
  chownSync(dir, owner.uid, owner.gid);
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) chownTree(path, owner);
    else if (!entry.isSymbolicLink()) chownSync(path, owner.uid, owner.gid);
  }
}
