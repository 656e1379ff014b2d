import { join } from 'node:path';
import {
  buildWorkloadKeys,
  deriveSealingKeys,
  INITIAL_KEYRING,
  type KeyringState,
  SEALING_KEYS_FILE,
  serializeSealingKeys,
  serializeWorkloadKeys,
  WORKLOAD_KEYS_FILE,
} from '@zenmesh/crypto';
import { spiffeIdFor } from '@zenmesh/pki';
import { MASTER_KEY_HOLDERS, peerIdsOf, SEALING_PURPOSES } from '../launcher/workload-secrets.js';
import { type Owner, writeFileAtomic } from './files.js';
import type { MeshService } from './mesh-services.js';

/** Whether `service` still needs the master key in its own secrets directory (the ca: join tokens, CA keys). */
export const holdsMasterKey = (service: MeshService) => MASTER_KEY_HOLDERS[service] !== undefined;

/** Writes the box keys of `service`'s own sealing purposes (sealing-keys.json), when it seals anything. */
export function writeServiceSealingKeys(
  dir: string,
  service: MeshService,
  masterKey: Buffer,
  owner?: Owner,
): string | undefined {
  const purposes = SEALING_PURPOSES[service];
  if (!purposes) return undefined;
  const file = join(dir, SEALING_KEYS_FILE);
  writeFileAtomic(file, serializeSealingKeys(deriveSealingKeys(masterKey, purposes)), owner);
  return file;
}

/**
 * Writes `service`'s own pair keys (message-keys.json, 0600, handed to `owner`) into `dir`: for each live
 * version of `state`, its keys with every peer MESH_POLICY lets it talk to, both directions. The service signs
 * and verifies with these alone (docs/decisions/0004-per-pair-hmac-keys.md).
 */
export function writeServiceKeys(
  dir: string,
  o: {
    service: MeshService;
    masterKey: Buffer;
    trustDomain: string;
    namespace: string;
    state?: KeyringState | undefined;
  },
  owner?: Owner,
): string {
  const ids = { trustDomain: o.trustDomain, namespace: o.namespace };
  const keys = buildWorkloadKeys({
    masterKey: o.masterKey,
    cluster: o.trustDomain,
    workload: spiffeIdFor(o.service, ids),
    peers: peerIdsOf(o.service, ids),
    state: o.state ?? INITIAL_KEYRING,
  });
  const file = join(dir, WORKLOAD_KEYS_FILE);
  writeFileAtomic(file, serializeWorkloadKeys(keys), owner);
  return file;
}
