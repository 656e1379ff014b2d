import type { PeerCheck } from './server.js';

/** Process-wide defaults of every mesh server and channel that does not set its own. */
export interface MeshDefaults {
  /** Per-call peer check (servers: every call; channels: every handshake), e.g. the identity guard. */
  verifyPeer?: PeerCheck;
  /** Servers close connections this long after they opened, so clients re-handshake with fresh SVIDs. */
  maxConnectionAgeMs?: number;
}

let defaults: MeshDefaults = {};

/**
 * Installs the identity-related defaults for this process, like `useMessageIntegrity`: each service's
 * main.ts calls it once with its workload identity's guard, before creating servers and channels, so servers
 * built deep inside a service package get the per-call peer check too.
 */
export function useMeshDefaults(next: MeshDefaults): void {
  defaults = { ...next };
}

export const meshDefaults = (): MeshDefaults => defaults;
