import { join } from 'node:path';
import { readSvidFiles as readFiles } from '@zenmesh/identity';
import type { TlsIdentity } from '@zenmesh/rpc';

/** The files a service's agent keeps in ZENMESH_SVID_DIR (names fixed by @zenmesh/config's startMeshIdentity). */
export const svidPaths = (dir: string) => ({
  cert: join(dir, 'svid.pem'),
  key: join(dir, 'svid-key.pem'),
  bundle: join(dir, 'bundle.pem'),
});

export const readSvidFiles = (dir: string): TlsIdentity | undefined => readFiles(svidPaths(dir));
