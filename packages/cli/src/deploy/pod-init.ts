import { existsSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import {
  KEYRING_FILE,
  MASTER_KEY_FILE,
  parseMasterKey,
  SEALING_KEYS_FILE,
  validateKeyring,
  WORKLOAD_KEYS_FILE,
} from '@zenmesh/crypto';
import { mintJoinToken } from '@zenmesh/identity';
import { spiffeIdFor } from '@zenmesh/pki';
import { CliError } from '../errors.js';
import { ensureDir, writeFileAtomic } from './files.js';
import type { MeshService } from './mesh-services.js';
import { holdsMasterKey, writeServiceKeys, writeServiceSealingKeys } from './workload-keys.js';

export interface PodInitOptions {
  service: MeshService;
  trustDomain: string;
  namespace: string;
  /** A Kubernetes Secret volume holding master.key (and hmac-keyring.json when rotated); init only. */
  secretsFrom: string;
  /** The secrets directory the service reads (an in-memory emptyDir, or the CA's and token's volume). */
  secretsTo: string;
  /** Where to write this pod's one-time join token (not for the CA). */
  tokenOut?: string;
  tokenTtlSeconds: number;
  /** The ca only: a Secret volume with the CA made by `zenmesh init k8s`, copied once into an empty volume. */
  caSeed?: string;
  /** The backend and token: a libpq password file (PGPASSFILE) for their database login role. */
  pgpass?: { file: string; address: string; database: string; role: string; passwordFile: string };
}

export interface PodInitResult {
  service: string;
  copied: string[];
  caSeeded: boolean;
  joinToken?: { spiffeId: string; expiresAt: string };
}

/**
 * Reads a file of a Kubernetes Secret volume. Those are symlinks into a `..data` directory, which the mesh's
 * own readers refuse on purpose (a planted link could point a service at other key material); this copy step
 * follows them inside the Secret volume only and writes regular 0600 files the service then reads.
 */
function readSecretVolumeFile(dir: string, name: string): string | undefined {
  const path = join(dir, name);
  if (!existsSync(path)) return undefined;
  if (!statSync(path).isFile()) throw new CliError('ERR_STATE', `${path} is not a file`);
  return readFileSync(path, 'utf8');
}

/**
 * What every pod's init container does before the service starts (deploy/k8s/zenmesh):
 * 1. writes the service's own pair keys (message-keys.json: its keys with each MESH_POLICY peer, for every
 *    live version of the HMAC keyring in the Secret, or version 1) into its secrets directory, 0600;
 * 2. token and backend: the box keys of their own sealing purposes (sealing-keys.json); the ca alone: a copy
 *    of master.key (it verifies join tokens and seals the CA keys with it). Every other pod's master key, if a
 *    stale one is there, is removed;
 * 3. the ca: copies the CA made by `zenmesh init k8s` into its empty persistent volume, once;
 * 4. every other service: mints this pod's own one-time join token with the master key, here in the init
 *    container, so each replica joins for itself and holds its own key pair and SVID. Possession of the master
 *    key Secret is what lets the init container do this: docs/decisions/0003-deploy-identity-bootstrap.md says
 *    what that does and does not protect.
 */
export function initPod(o: PodInitOptions): PodInitResult {
  const masterFile = join(o.secretsFrom, MASTER_KEY_FILE);
  const master = readSecretVolumeFile(o.secretsFrom, MASTER_KEY_FILE);
  if (master === undefined) {
    throw new CliError('ERR_STATE', `${masterFile} is missing (the master key Secret)`);
  }
  const masterKey = parseMasterKey(master.trim(), masterFile);
  ensureDir(o.secretsTo);
  const keyringText = readSecretVolumeFile(o.secretsFrom, KEYRING_FILE);
  let state: ReturnType<typeof validateKeyring> | undefined;
  if (keyringText !== undefined) {
    try {
      state = validateKeyring(JSON.parse(keyringText), join(o.secretsFrom, KEYRING_FILE));
    } catch (err) {
      throw new CliError('ERR_STATE', `${join(o.secretsFrom, KEYRING_FILE)} is not a valid keyring`, {
        cause: err,
      });
    }
  }
  writeServiceKeys(o.secretsTo, { ...o, masterKey, state });
  const copied = [WORKLOAD_KEYS_FILE];
  if (writeServiceSealingKeys(o.secretsTo, o.service, masterKey)) copied.push(SEALING_KEYS_FILE);
  if (holdsMasterKey(o.service)) {
    writeFileAtomic(join(o.secretsTo, MASTER_KEY_FILE), `${master.trim()}\n`);
    copied.push(MASTER_KEY_FILE);
  } else {
    rmSync(join(o.secretsTo, MASTER_KEY_FILE), { force: true });
  }
  // The cluster keyring is read by no service once it has its own keys.
  rmSync(join(o.secretsTo, KEYRING_FILE), { force: true });

  let caSeeded = false;
  if (o.caSeed !== undefined) {
    const target = join(o.secretsTo, 'ca');
    if (!existsSync(join(target, 'ca-state.json'))) {
      const names = readdirSync(o.caSeed).filter((n) => !n.startsWith('..'));
      if (!names.includes('ca-state.json')) {
        throw new CliError(
          'ERR_STATE',
          `${o.caSeed} holds no ca-state.json: create it with 'zenmesh init k8s'`,
        );
      }
      ensureDir(target);
      for (const name of names) {
        writeFileAtomic(join(target, name), readFileSync(join(o.caSeed, name)));
      }
      caSeeded = true;
    }
  }

  if (o.pgpass !== undefined) {
    const { file, address, database, role, passwordFile } = o.pgpass;
    const i = address.lastIndexOf(':');
    const password = readFileSync(passwordFile, 'utf8').trim();
    if (i <= 0 || password === '' || /[:\\\n]/.test(`${database}${role}`)) {
      throw new CliError(
        'ERR_USAGE',
        'pgpass: expected host:port, a database, a role and a non-empty password file',
      );
    }
    // libpq's format escapes ':' and '\\' inside a field.
    const esc = (v: string) => v.replace(/[\\:]/g, (c) => `\\${c}`);
    writeFileAtomic(
      file,
      `${esc(address.slice(0, i))}:${address.slice(i + 1)}:${esc(database)}:${esc(role)}:${esc(password)}\n`,
    );
  }

  const result: PodInitResult = { service: o.service, copied, caSeeded };
  if (o.tokenOut !== undefined) {
    if (o.service === 'ca')
      throw new CliError('ERR_USAGE', 'the ca issues its own SVID; it needs no join token');
    const spiffeId = spiffeIdFor(o.service, { trustDomain: o.trustDomain, namespace: o.namespace });
    const { token, claims } = mintJoinToken(masterKey, {
      spiffeId,
      ttlSeconds: o.tokenTtlSeconds,
    });
    writeFileAtomic(o.tokenOut, `${token}\n`);
    result.joinToken = { spiffeId, expiresAt: claims.expiresAt.toISOString() };
  }
  return result;
}
