import type { SecretBox } from '@zenmesh/crypto';
import type { CertificateAuthority } from '@zenmesh/pki';
import type { AuditLog } from './audit-log.js';
import { type AuthorityRecord, openAuthority, type PersistedState, type SvidRecord } from './ca-state.js';
import type { CaCore, CaEvent } from './ca-types.js';

/** What the rotation primitives need of the CA core. */
export interface AuthorityContext {
  s: PersistedState;
  cas: Map<string, CertificateAuthority>;
  box: SecretBox;
  trustDomain: string;
  ownId: string;
  audit: AuditLog;
  now(): Date;
  save(): void;
  emit(event: CaEvent): void;
  authority(id: string): AuthorityRecord;
  active(): AuthorityRecord;
  newAuthority(state: AuthorityRecord['state']): Promise<AuthorityRecord>;
  revokedSet(): Set<string>;
  isLive(r: SvidRecord, revoked: Set<string>): boolean;
}

type AuthorityOps = Pick<
  CaCore,
  | 'prepareAuthority'
  | 'setInBundle'
  | 'setIssuer'
  | 'requestRenew'
  | 'promote'
  | 'retire'
  | 'liveWorkloads'
  | 'liveSvidsOf'
  | 'setRotation'
>;

/**
 * The primitives `rotation.ts` drives (docs/operations.md): prepare a new authority, put it in or out of the
 * bundle (each change a new bundle version that workloads confirm), pin workloads to an issuer, promote,
 * retire; and which live SVIDs chain to which authority.
 */
export function createAuthorityOps(ctx: AuthorityContext): AuthorityOps {
  const { s, cas, box, trustDomain, ownId, audit, now, save, emit, authority, active, newAuthority } = ctx;
  const { revokedSet, isLive } = ctx;
  return {
    async prepareAuthority() {
      const record = await newAuthority('prepared');
      cas.set(record.id, openAuthority(box, trustDomain, record));
      s.authorities.push(record);
      save();
      return record;
    },
    setInBundle(id, inBundle) {
      authority(id).inBundle = inBundle;
      s.bundleVersion++;
      s.acks[ownId] = s.bundleVersion;
      save();
      emit({ type: 'bundle' });
      return s.bundleVersion;
    },
    setIssuer(spiffeIds, authorityId) {
      for (const id of spiffeIds) {
        if (authorityId === undefined) delete s.issuerOverrides[id];
        else s.issuerOverrides[id] = authorityId;
      }
      save();
    },
    requestRenew(spiffeIds) {
      emit({ type: 'renew', spiffeIds: [...spiffeIds] });
    },
    promote(id) {
      const previous = active();
      previous.state = 'retiring';
      authority(id).state = 'active';
      s.issuerOverrides = {};
      save();
    },
    retire(id, why) {
      const a = authority(id);
      a.state = 'retired';
      a.retiredAt = now().toISOString();
      delete a.sealedKey;
      cas.delete(id);
      audit.append('ca.retired', ownId, { authority: id, why });
      a.inBundle = false;
      s.bundleVersion++;
      s.acks[ownId] = s.bundleVersion;
      save();
      emit({ type: 'bundle' });
    },
    liveWorkloads() {
      const revoked = revokedSet();
      const out = new Map<string, SvidRecord>();
      for (const r of s.svids) {
        if (r.via === 'probe' || !isLive(r, revoked)) continue;
        const prev = out.get(r.spiffeId);
        if (!prev || prev.issuedAt <= r.issuedAt) out.set(r.spiffeId, r);
      }
      return out;
    },
    liveSvidsOf(authorityId) {
      const revoked = revokedSet();
      return s.svids.filter((r) => r.issuerId === authorityId && isLive(r, revoked));
    },
    setRotation(rotation) {
      if (rotation) s.rotation = rotation;
      else delete s.rotation;
      save();
    },
  };
}
