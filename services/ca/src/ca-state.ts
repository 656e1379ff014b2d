import type { SecretBox } from '@zenmesh/crypto';
import { type CertificateAuthority, describeCertificate } from '@zenmesh/pki';
import type { ConfinedDir } from './confined-dir.js';
import { CaError } from './errors.js';

export type AuthorityState = 'active' | 'prepared' | 'retiring' | 'retired';

export interface AuthorityRecord {
  id: string;
  certPem: string;
  /** The PKCS#8 key sealed with the master key (AES-256-GCM, AAD = trust domain + id); gone once retired. */
  sealedKey?: string;
  state: AuthorityState;
  inBundle: boolean;
  createdAt: string;
  retiredAt?: string;
}

export interface SvidRecord {
  serial: string;
  spiffeId: string;
  issuerId: string;
  notAfter: string;
  issuedAt: string;
  /** `probe`: a short-lived SVID from a probe join token, not a workload (see JoinTokenClaims.probe). */
  via: 'join' | 'renew' | 'self' | 'probe';
}

export interface RevokedRecord {
  serial: string;
  spiffeId: string;
  notAfter: string;
  at: string;
  reason: string;
}

export interface RotationEventRecord {
  at: string;
  phase: string;
  message: string;
}

export interface RotationRecord {
  id: string;
  phase: string;
  fromAuthority: string;
  toAuthority: string;
  canaries: string[];
  startedAt: string;
  updatedAt: string;
  error: string;
  history: RotationEventRecord[];
}

export interface PersistedState {
  format: 1;
  trustDomain: string;
  authorities: AuthorityRecord[];
  bundleVersion: number;
  /** SPIFFE ID → authority id that signs its next SVID (canaries during a rotation). */
  issuerOverrides: Record<string, string>;
  svids: SvidRecord[];
  revoked: RevokedRecord[];
  revocationsVersion: number;
  /** Spent join tokens (id → expiry), kept until they would have expired anyway. */
  usedJoinTokens: Record<string, string>;
  acks: Record<string, number>;
  servingAddresses: Record<string, string>;
  rotation?: RotationRecord;
}

const FILE = 'ca-state.json';

export function loadState(dir: ConfinedDir, trustDomain: string): PersistedState | undefined {
  const text = dir.read(FILE);
  if (text === undefined) return undefined;
  let state: PersistedState;
  try {
    state = JSON.parse(text) as PersistedState;
  } catch (cause) {
    throw new CaError('ERR_CA_STATE', `${dir.path}/${FILE} is not valid JSON`, { cause });
  }
  if (state.format !== 1) throw new CaError('ERR_CA_STATE', `${dir.path}/${FILE} has an unknown format`);
  if (state.trustDomain !== trustDomain) {
    throw new CaError(
      'ERR_CA_STATE',
      `${dir.path}/${FILE} belongs to trust domain ${state.trustDomain}, not ${trustDomain}`,
    );
  }
  return state;
}

export function saveState(dir: ConfinedDir, state: PersistedState): void {
  dir.write(FILE, `${JSON.stringify(state, null, 1)}\n`, 0o600);
}

const aadOf = (trustDomain: string, id: string) => `zenmesh-ca/${trustDomain}/${id}`;

export function sealAuthority(box: SecretBox, trustDomain: string, id: string, keyPem: string): string {
  return box.seal(keyPem, aadOf(trustDomain, id));
}

/** Opens an authority's key; a wrong master key or a moved/edited ciphertext fails authentication. */
export function openAuthority(
  box: SecretBox,
  trustDomain: string,
  record: AuthorityRecord,
): CertificateAuthority {
  if (record.sealedKey === undefined) {
    throw new CaError('ERR_CA_STATE', `authority ${record.id} is retired; its key is gone`);
  }
  let keyPem: string;
  try {
    keyPem = box.open(record.sealedKey, aadOf(trustDomain, record.id));
  } catch (cause) {
    throw new CaError(
      'ERR_CA_STATE',
      `the key of authority ${record.id} does not open with this master key`,
      { cause },
    );
  }
  return { certPem: record.certPem, keyPem, trustDomain };
}

export const authorityInfo = (record: AuthorityRecord) => describeCertificate(record.certPem);
