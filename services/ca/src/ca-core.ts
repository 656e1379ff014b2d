import { join } from 'node:path';
import { createSecretBox, loadMasterKey } from '@zenmesh/crypto';
import {
  type CertificateAuthority,
  createCertificateAuthority,
  DEFAULT_SVID_TTL_SECONDS,
  fingerprint,
  issueSvid,
  normaliseSerial,
  parseSpiffeId,
  spiffeIdFor,
} from '@zenmesh/pki';
import { openAuditLog } from './audit-log.js';
import { createAuthorityOps } from './ca-authorities.js';
import { type EnrolmentContext, joinWithToken, renewOwnSvid } from './ca-enrolment.js';
import {
  type AuthorityRecord,
  loadState,
  openAuthority,
  type PersistedState,
  type SvidRecord,
  saveState,
  sealAuthority,
} from './ca-state.js';
import type { CaCore, CaCoreOptions, CaEvent, IssuedResult } from './ca-types.js';
import { openConfinedDir } from './confined-dir.js';
import { CaError } from './errors.js';

const asDate = (s: string) => new Date(s);
/** Lifetime of a probe SVID (`zenmesh verify`): long enough for one run of probes, no more. */
const PROBE_SVID_TTL_SECONDS = 300;

export async function createCaCore(opts: CaCoreOptions): Promise<CaCore> {
  const now = opts.now ?? (() => new Date());
  const { trustDomain, namespace, logger } = opts;
  // Fail closed: an unreadable, symlinked, loose or wrong-length master key stops the CA with one line.
  const masterKey = loadMasterKey(opts.secretsDir);
  const box = createSecretBox(masterKey, 'ca-key');
  const dir = openConfinedDir(join(opts.secretsDir, 'ca'));
  const audit = openAuditLog(dir, now);
  const ownId = spiffeIdFor('ca', { trustDomain, namespace });
  const svidTtl = opts.svidTtlSeconds ?? DEFAULT_SVID_TTL_SECONDS;
  const listeners = new Set<(event: CaEvent) => void>();
  const emit = (event: CaEvent) => {
    for (const l of listeners) l(event);
  };

  const newAuthority = async (state: AuthorityRecord['state']): Promise<AuthorityRecord> => {
    const at = now();
    const ca = await createCertificateAuthority({
      trustDomain,
      commonName: `Zen Mesh CA ${trustDomain} ${at.toISOString().slice(0, 19)}Z`,
      ...(opts.caTtlSeconds ? { ttlSeconds: opts.caTtlSeconds } : {}),
      now: at,
    });
    const id = `ca-${fingerprint(ca.certPem).slice(0, 12)}`;
    return {
      id,
      certPem: ca.certPem,
      sealedKey: sealAuthority(box, trustDomain, id, ca.keyPem),
      state,
      inBundle: state === 'active',
      createdAt: at.toISOString(),
    };
  };

  let state = loadState(dir, trustDomain);
  if (!state) {
    const first = await newAuthority('active');
    state = {
      format: 1,
      trustDomain,
      authorities: [first],
      bundleVersion: 1,
      issuerOverrides: {},
      svids: [],
      revoked: [],
      revocationsVersion: 1,
      usedJoinTokens: {},
      acks: {},
      servingAddresses: {},
    };
    saveState(dir, state);
    audit.append('ca.created', ownId, { authority: first.id, fingerprint: fingerprint(first.certPem) });
    logger.info({ authority: first.id }, 'created the trust domain CA');
  }
  const s: PersistedState = state;
  // Open every usable key now: a wrong master key must stop startup, not the first renewal.
  const cas = new Map<string, CertificateAuthority>();
  for (const a of s.authorities) if (a.state !== 'retired') cas.set(a.id, openAuthority(box, trustDomain, a));

  const save = () => {
    // Forget what can no longer matter: expired SVIDs, expired revocations, spent tokens past their expiry.
    const t = now();
    s.svids = s.svids.filter((r) => asDate(r.notAfter) > t);
    const revokedBefore = s.revoked.length;
    s.revoked = s.revoked.filter((r) => asDate(r.notAfter) > t);
    if (s.revoked.length !== revokedBefore) s.revocationsVersion++;
    for (const [id, exp] of Object.entries(s.usedJoinTokens))
      if (asDate(exp) <= t) delete s.usedJoinTokens[id];
    saveState(dir, s);
  };

  const authority = (id: string) => {
    const a = s.authorities.find((x) => x.id === id);
    if (!a) throw new CaError('ERR_CA_STATE', `no authority ${id}`);
    return a;
  };
  const active = () => {
    const a = s.authorities.find((x) => x.state === 'active');
    if (!a) throw new CaError('ERR_CA_STATE', 'no active authority');
    return a;
  };
  const bundle = () => ({
    version: s.bundleVersion,
    pems: s.authorities.filter((a) => a.inBundle).map((a) => a.certPem),
  });
  const revokedSet = () => new Set(s.revoked.map((r) => r.serial));
  const isLive = (r: SvidRecord, revoked: Set<string>) =>
    asDate(r.notAfter) > now() && !revoked.has(r.serial);

  const issue = async (
    spiffeId: string,
    key: { csrPem: string } | { publicKeyPem: string },
    via: SvidRecord['via'],
    commit: () => void,
    probeTtlSeconds?: number,
  ): Promise<IssuedResult> => {
    // Probe SVIDs come from the active CA whatever the workload's override, and live briefly.
    const issuerId = (via === 'probe' ? undefined : s.issuerOverrides[spiffeId]) ?? active().id;
    const ca = cas.get(issuerId);
    if (!ca) throw new CaError('ERR_CA_STATE', `authority ${issuerId} has no key`);
    const ttlSeconds =
      via === 'probe' ? Math.min(svidTtl, PROBE_SVID_TTL_SECONDS, probeTtlSeconds ?? Infinity) : svidTtl;
    const issued = await issueSvid({ ca, spiffeId, ...key, ttlSeconds, now: now() });
    // Everything from here to the return is synchronous: the checks in commit() and the record cannot interleave.
    commit();
    const record: SvidRecord = {
      serial: issued.serial,
      spiffeId,
      issuerId,
      notAfter: issued.notAfter.toISOString(),
      issuedAt: now().toISOString(),
      via,
    };
    s.svids.push(record);
    // The bundle travels with every SVID and the workload installs it with the certificate.
    if (via !== 'probe') s.acks[spiffeId] = Math.max(s.acks[spiffeId] ?? 0, s.bundleVersion);
    save();
    const b = bundle();
    return {
      spiffeId,
      certPem: issued.certPem,
      serial: issued.serial,
      notAfter: issued.notAfter,
      bundleVersion: b.version,
      bundlePems: b.pems,
    };
  };

  const refuse = (
    action: 'join.refused' | 'renew.refused',
    actor: string,
    err: CaError,
    details: Record<string, unknown>,
  ) => {
    audit.append(action, actor, { code: err.code, reason: err.message, ...details });
    return err;
  };

  const enrolment: EnrolmentContext = {
    masterKey,
    trustDomain,
    s,
    audit,
    now,
    bundle,
    revokedSet,
    issue,
    refuse,
  };

  return {
    trustDomain,
    namespace,
    ownId,
    svidTtlSeconds: svidTtl,
    audit,
    get state() {
      return s;
    },
    now,
    bundle,
    revocations: () => ({ version: s.revocationsVersion, serials: s.revoked.map((r) => r.serial) }),
    isRevoked: (serial) => revokedSet().has(normaliseSerial(serial)),

    join: (token, csrPem) => joinWithToken(enrolment, token, csrPem),
    renew: (callerId, req) => renewOwnSvid(enrolment, callerId, req),

    async issueOwn(publicKeyPem) {
      const result = await issue(ownId, { publicKeyPem }, 'self', () => undefined);
      audit.append('svid.issued', ownId, {
        serial: result.serial,
        notAfter: result.notAfter.toISOString(),
        issuer: s.svids.at(-1)?.issuerId,
      });
      return result;
    },

    async issueProbe(authorityId, publicKeyPem, ttlSeconds) {
      const ca = cas.get(authorityId);
      if (!ca) throw new CaError('ERR_CA_STATE', `authority ${authorityId} has no key`);
      const issued = await issueSvid({ ca, spiffeId: ownId, publicKeyPem, ttlSeconds, now: now() });
      audit.append('svid.issued', ownId, {
        serial: issued.serial,
        notAfter: issued.notAfter.toISOString(),
        issuer: authorityId,
        purpose: 'probe',
      });
      return { certPem: issued.certPem };
    },

    revoke(req, actor) {
      if ((req.serial ? 1 : 0) + (req.spiffeId ? 1 : 0) !== 1) {
        throw new TypeError('revoke: give exactly one of serial or spiffeId');
      }
      const revoked = revokedSet();
      let targets: SvidRecord[];
      if (req.serial) {
        const serial = normaliseSerial(req.serial);
        targets = s.svids.filter((r) => r.serial === serial && isLive(r, revoked));
      } else {
        parseSpiffeId(req.spiffeId as string);
        targets = s.svids.filter((r) => r.spiffeId === req.spiffeId && isLive(r, revoked));
      }
      const at = now().toISOString();
      for (const r of targets) {
        s.revoked.push({
          serial: r.serial,
          spiffeId: r.spiffeId,
          notAfter: r.notAfter,
          at,
          reason: req.reason,
        });
        audit.append('svid.revoked', actor, { serial: r.serial, spiffeId: r.spiffeId, reason: req.reason });
      }
      if (targets.length) {
        s.revocationsVersion++;
        save();
        emit({ type: 'revocations' });
      }
      return targets.map((r) => r.serial);
    },

    ack(spiffeId, version) {
      if (version > s.bundleVersion) return;
      if ((s.acks[spiffeId] ?? 0) >= version) return;
      s.acks[spiffeId] = version;
      save();
      emit({ type: 'bundle' });
    },
    setServingAddress(spiffeId, address) {
      if (s.servingAddresses[spiffeId] === address) return;
      s.servingAddresses[spiffeId] = address;
      save();
    },
    subscribe(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },

    authority,
    active,
    ...createAuthorityOps({
      s,
      cas,
      box,
      trustDomain,
      ownId,
      audit,
      now,
      save,
      emit,
      authority,
      active,
      newAuthority,
      revokedSet,
      isLive,
    }),
  };
}
