import { join } from 'node:path';
import { createSecretBox, loadMasterKey } from '@zenmesh/crypto';
import { isZenMeshError } from '@zenmesh/errors';
import { verifyJoinToken } from '@zenmesh/identity';
import {
  type CertificateAuthority,
  createCertificateAuthority,
  DEFAULT_SVID_TTL_SECONDS,
  fingerprint,
  issueSvid,
  normaliseSerial,
  parseSpiffeId,
  spiffeIdFor,
  validateSvid,
  verifyRenewalProof,
} from '@zenmesh/pki';
import type { Logger } from '@zenmesh/telemetry';
import { type AuditLog, openAuditLog } from './audit-log.js';
import {
  type AuthorityRecord,
  loadState,
  openAuthority,
  type PersistedState,
  type RotationRecord,
  type SvidRecord,
  saveState,
  sealAuthority,
} from './ca-state.js';
import { openConfinedDir } from './confined-dir.js';
import { CaError } from './errors.js';

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
  ): Promise<IssuedResult> => {
    // Probe SVIDs come from the active CA whatever the workload's override, and live briefly.
    const issuerId = (via === 'probe' ? undefined : s.issuerOverrides[spiffeId]) ?? active().id;
    const ca = cas.get(issuerId);
    if (!ca) throw new CaError('ERR_CA_STATE', `authority ${issuerId} has no key`);
    const ttlSeconds = via === 'probe' ? Math.min(svidTtl, PROBE_SVID_TTL_SECONDS) : svidTtl;
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

    async join(token, csrPem) {
      let claims: ReturnType<typeof verifyJoinToken>;
      try {
        claims = verifyJoinToken(masterKey, token, now());
      } catch (err) {
        for (const code of ['ERR_JOIN_TOKEN_INVALID', 'ERR_JOIN_TOKEN_EXPIRED'] as const) {
          if (isZenMeshError(err, code)) {
            throw refuse('join.refused', 'join-token', new CaError(code, err.message, { cause: err }), {});
          }
        }
        throw err;
      }
      const details = { token: claims.id, spiffeId: claims.spiffeId };
      const spent = () => new CaError('ERR_JOIN_TOKEN_USED', `join token ${claims.id} was already used`);
      if (s.usedJoinTokens[claims.id]) throw refuse('join.refused', 'join-token', spent(), details);
      let result: IssuedResult;
      try {
        result = await issue(claims.spiffeId, { csrPem }, claims.probe ? 'probe' : 'join', () => {
          // Checked again after the (async) signing: two concurrent joins with one token, one wins.
          if (s.usedJoinTokens[claims.id]) throw spent();
          s.usedJoinTokens[claims.id] = claims.expiresAt.toISOString();
        });
      } catch (err) {
        const code = (err as { code?: string }).code;
        if (code === 'ERR_CSR_MISMATCH') {
          throw refuse(
            'join.refused',
            'join-token',
            new CaError('ERR_JOIN_TOKEN_IDENTITY', `the join token admits only ${claims.spiffeId}`, {
              cause: err,
            }),
            details,
          );
        }
        if (err instanceof CaError) throw refuse('join.refused', 'join-token', err, details);
        throw err;
      }
      audit.append('svid.joined', claims.spiffeId, {
        ...details,
        ...(claims.probe ? { purpose: 'probe' } : {}),
        serial: result.serial,
        notAfter: result.notAfter.toISOString(),
        issuer: s.svids.at(-1)?.issuerId,
      });
      return result;
    },

    async renew(callerId, req) {
      const fail = (
        code: 'ERR_RENEW_IDENTITY' | 'ERR_RENEW_PROOF' | 'ERR_REVOKED',
        message: string,
        cause?: unknown,
      ) => refuse('renew.refused', callerId, new CaError(code, message, cause ? { cause } : undefined), {});
      let current: ReturnType<typeof validateSvid>;
      try {
        current = validateSvid(req.currentCertificatePem, {
          bundlePems: bundle().pems,
          trustDomain,
          now: now(),
        });
      } catch (err) {
        throw fail('ERR_RENEW_PROOF', `the SVID to renew is not valid: ${(err as Error).message}`, err);
      }
      // A workload renews only its own identity: the one its mTLS client certificate proved.
      if (current.spiffeId !== callerId) {
        throw fail('ERR_RENEW_IDENTITY', `${callerId} may not renew ${current.spiffeId}`);
      }
      if (revokedSet().has(current.serial)) throw fail('ERR_REVOKED', `SVID ${current.serial} is revoked`);
      // A probe SVID is for one run of probes; renewing it would turn it into a tracked workload.
      if (s.svids.some((r) => r.serial === current.serial && r.via === 'probe')) {
        throw fail('ERR_RENEW_IDENTITY', `SVID ${current.serial} is a probe SVID and is not renewed`);
      }
      if (!verifyRenewalProof(req.currentCertificatePem, req.csrPem, req.proof)) {
        throw fail('ERR_RENEW_PROOF', 'the renewal proof does not verify with the current SVID key');
      }
      let result: IssuedResult;
      try {
        result = await issue(callerId, { csrPem: req.csrPem }, 'renew', () => {
          if (revokedSet().has(current.serial))
            throw new CaError('ERR_REVOKED', `SVID ${current.serial} is revoked`);
        });
      } catch (err) {
        const code = (err as { code?: string }).code;
        if (code === 'ERR_CSR_MISMATCH')
          throw fail('ERR_RENEW_IDENTITY', `${callerId} may only ask for its own SPIFFE ID`, err);
        if (code === 'ERR_CSR_INVALID') throw fail('ERR_RENEW_PROOF', 'the CSR is not valid', err);
        throw err;
      }
      audit.append('svid.renewed', callerId, {
        previous: current.serial,
        serial: result.serial,
        notAfter: result.notAfter.toISOString(),
        issuer: s.svids.at(-1)?.issuerId,
      });
      return result;
    },

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
