import { normaliseSerial } from '@zenmesh/pki';

/** The revoked serials a workload knows of, as last streamed by the CA (WatchRevocations). */
export interface RevocationList {
  readonly version: number;
  isRevoked(serial: string): boolean;
  /** Replaces the list when `version` is newer; returns whether it did. */
  update(version: number, serials: readonly string[]): boolean;
  size(): number;
}

export function createRevocationList(): RevocationList {
  let version = 0;
  let serials = new Set<string>();
  return {
    get version() {
      return version;
    },
    isRevoked: (serial) => serials.has(normaliseSerial(serial)),
    update(next, list) {
      if (next <= version) return false;
      version = next;
      serials = new Set(list.map(normaliseSerial));
      return true;
    },
    size: () => serials.size,
  };
}
