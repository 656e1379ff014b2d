import { chmodSync, existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import type { TlsIdentity } from '@zenmesh/rpc';

export interface SvidFilePaths {
  cert: string;
  key: string;
  bundle: string;
}

/**
 * Writes the identity to disk for processes that read PEM files (the CLI): each file via a temporary file
 * and rename, so a reader never sees half a key; the key is 0600.
 */
export function writeSvidFiles(paths: SvidFilePaths, identity: TlsIdentity): void {
  const put = (path: string, data: string, mode: number) => {
    const tmp = `${path}.tmp`;
    writeFileSync(tmp, data, { mode });
    chmodSync(tmp, mode);
    renameSync(tmp, path);
  };
  put(paths.key, identity.key, 0o600);
  put(paths.cert, identity.cert, 0o644);
  put(paths.bundle, identity.ca, 0o644);
}

export function readSvidFiles(paths: SvidFilePaths): TlsIdentity | undefined {
  if (![paths.cert, paths.key, paths.bundle].every((p) => existsSync(p))) return undefined;
  return {
    cert: readFileSync(paths.cert, 'utf8'),
    key: readFileSync(paths.key, 'utf8'),
    ca: readFileSync(paths.bundle, 'utf8'),
  };
}
