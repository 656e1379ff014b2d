import type { Logger } from '@zenmesh/telemetry';
import type { AuditLog } from './audit-log.js';
import type { AuthorityRecord, PersistedState, RotationRecord, SvidRecord } from './ca-state.js';

export interface CaCoreOptions {
  /** Holds `master.key`; the CA keeps its sealed keys, state and issuance log in `<secretsDir>/ca/`. */
  secretsDir: string;
  trustDomain: string;
  namespace: string;
  /** Lifetime of every SVID issued. Default 1 h. */
  svidTtlSeconds?: number;
  /** Lifetime of each CA certificate. Default 1 year. */
  caTtlSeconds?: number;
  logger: Logger;
  now?: () => Date;
}

export interface IssuedResult {
  spiffeId: string;
  certPem: string;
  serial: string;
  notAfter: Date;
  bundleVersion: number;
  bundlePems: string[];
}

export type CaEvent = { type: 'bundle' } | { type: 'renew'; spiffeIds: string[] } | { type: 'revocations' };

export interface CaCore {
  readonly trustDomain: string;
  readonly namespace: string;
  readonly ownId: string;
  readonly svidTtlSeconds: number;
  readonly audit: AuditLog;
  readonly state: Readonly<PersistedState>;
  now(): Date;
  bundle(): { version: number; pems: string[] };
  revocations(): { version: number; serials: string[] };
  isRevoked(serial: string): boolean;
  join(token: string, csrPem: string): Promise<IssuedResult>;
  renew(
    callerId: string,
    req: { csrPem: string; currentCertificatePem: string; proof: Uint8Array },
  ): Promise<IssuedResult>;
  /** The CA's own SVID (it serves and probes with it); the key pair is made in-process. */
  issueOwn(publicKeyPem: string): Promise<IssuedResult>;
  /** A short-lived SVID for the CA's own ID from one given authority: the client side of a health probe. */
  issueProbe(authorityId: string, publicKeyPem: string, ttlSeconds: number): Promise<{ certPem: string }>;
  revoke(req: { serial?: string; spiffeId?: string; reason: string }, actor: string): string[];
  ack(spiffeId: string, version: number): void;
  setServingAddress(spiffeId: string, address: string): void;
  subscribe(listener: (event: CaEvent) => void): () => void;
  // Rotation primitives, driven by rotation.ts.
  authority(id: string): AuthorityRecord;
  active(): AuthorityRecord;
  prepareAuthority(): Promise<AuthorityRecord>;
  setInBundle(id: string, inBundle: boolean): number;
  setIssuer(spiffeIds: readonly string[], authorityId: string | undefined): void;
  requestRenew(spiffeIds: readonly string[]): void;
  promote(id: string): void;
  retire(id: string, why: string): void;
  /** The latest live (unexpired, unrevoked) SVID of every workload, by SPIFFE ID. */
  liveWorkloads(): Map<string, SvidRecord>;
  /** Every live SVID (superseded ones included) that chains to the authority. */
  liveSvidsOf(authorityId: string): SvidRecord[];
  setRotation(rotation: RotationRecord | undefined): void;
}
