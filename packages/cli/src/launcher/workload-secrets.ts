import { chmodSync, existsSync, mkdirSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  buildWorkloadKeys,
  deriveSealingKeys,
  type KeyringState,
  MASTER_KEY_FILE,
  readWorkloadKeysFile,
  SEALING_KEYS_FILE,
  WORKLOAD_KEYS_FILE,
  workloadKeysPeers,
  writeSealingKeysFile,
  writeWorkloadKeysFile,
} from '@zenmesh/crypto';
import { spiffeIdFor } from '@zenmesh/pki';
import { policyPeers } from '@zenmesh/rpc';
import { paths } from '../home.js';
import { SERVICES, type ServiceName } from './launch-env.js';

/**
 * The one service that still holds the master key, and what for (docs/decisions/0004-per-pair-hmac-keys.md,
 * "What remains"). It does not use it for message HMACs once it has its message-keys.json.
 */
export const MASTER_KEY_HOLDERS: Readonly<Partial<Record<ServiceName, string>>> = {
  ca: 'verifies join tokens; seals the CA keys',
};

/**
 * Services that seal secrets at rest get the box keys of their own purposes (sealing-keys.json) instead of the
 * master key. The same lists as services/backend BACKEND_SEALING_PURPOSES and services/token
 * TOKEN_SEALING_PURPOSE (a test holds them equal; not imported, so the CLI does not load the services).
 */
export const SEALING_PURPOSES: Readonly<Partial<Record<ServiceName, readonly string[]>>> = {
  backend: ['source-secret', 'endpoint-secret', 'endpoint-client-key'],
  token: ['token-service'],
};

/** The token service's sealed signing keys (services/token/src/signing-keys.ts SIGNING_KEYS_FILE). */
const TOKEN_SIGNING_KEYS = 'token-signing-keys.json';

/** What each service's directory may hold besides its keyring (the test of the layout reads this too). */
export const OWN_FILES: Readonly<Record<ServiceName, readonly string[]>> = {
  ca: [MASTER_KEY_FILE, 'ca'],
  token: [SEALING_KEYS_FILE, TOKEN_SIGNING_KEYS],
  backend: [SEALING_KEYS_FILE],
  egress: [],
  ingester: [],
  // The console's OAuth registration stays in the operator's secrets/ (ZENMESH_CONSOLE_CLIENT_FILE names it).
  bff: [],
};

export interface WorkloadSecretsOptions {
  home: string;
  masterKey: Buffer;
  trustDomain: string;
  namespace: string;
  state: KeyringState;
}

const mkdirPrivate = (dir: string) => {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  chmodSync(dir, 0o700);
};

/** The SPIFFE IDs `service` exchanges signed messages with under MESH_POLICY. */
export const peerIdsOf = (service: string, o: { trustDomain: string; namespace: string }) =>
  policyPeers(service).map((peer) => spiffeIdFor(peer, o));

/**
 * Lays out one private directory per service under `workloads/` (its ZENMESH_SECRETS_DIR) with exactly its
 * files: its own pair keys (message-keys.json, for every live key version), the master key only where
 * MASTER_KEY_HOLDERS says, its own state. Moves state an older launcher kept in the shared `secrets/` (the CA's
 * `ca/`, the token service's signing keys) into its owner's directory, and removes
 * a master key from a directory that must not hold one.
 */
export function writeWorkloadSecrets(o: WorkloadSecretsOptions): Record<ServiceName, string> {
  const p = paths(o.home);
  mkdirPrivate(p.workloads);
  const dirs = {} as Record<ServiceName, string>;
  for (const service of SERVICES) {
    const dir = p.workload(service);
    mkdirPrivate(dir);
    dirs[service] = dir;
    for (const name of OWN_FILES[service]) {
      const legacy = join(p.secrets, name);
      if (name !== MASTER_KEY_FILE && existsSync(legacy) && !existsSync(join(dir, name))) {
        renameSync(legacy, join(dir, name));
      }
    }
    const masterFile = join(dir, MASTER_KEY_FILE);
    if (MASTER_KEY_HOLDERS[service]) {
      writeFileSync(masterFile, `${o.masterKey.toString('base64')}\n`, { mode: 0o600 });
      chmodSync(masterFile, 0o600);
    } else {
      rmSync(masterFile, { force: true });
    }
    const purposes = SEALING_PURPOSES[service];
    if (purposes) writeSealingKeysFile(dir, deriveSealingKeys(o.masterKey, purposes));
    const workload = spiffeIdFor(service, o);
    writeWorkloadKeysFile(
      dir,
      buildWorkloadKeys({
        masterKey: o.masterKey,
        cluster: o.trustDomain,
        workload,
        peers: peerIdsOf(service, o),
        state: o.state,
      }),
    );
  }
  return dirs;
}

/**
 * After the cluster keyring changed (`zenmesh keys rotate`): rewrites every service's message-keys.json for the
 * new key versions, with the same workload and peers it had. Each running service re-reads its file itself.
 * Returns the services rewritten (none when the launcher never laid the directories out).
 */
export function rewriteWorkloadKeys(home: string, masterKey: Buffer, state: KeyringState): string[] {
  const p = paths(home);
  if (!existsSync(p.workloads)) return [];
  const done: string[] = [];
  for (const service of readdirSync(p.workloads).sort()) {
    const dir = p.workload(service);
    const current = readWorkloadKeysFile(dir);
    if (!current) continue;
    writeWorkloadKeysFile(
      dir,
      buildWorkloadKeys({
        masterKey,
        cluster: current.cluster,
        workload: current.workload,
        peers: workloadKeysPeers(current),
        state,
      }),
    );
    done.push(service);
  }
  return done;
}

export { WORKLOAD_KEYS_FILE };
