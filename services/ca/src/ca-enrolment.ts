import { isZenMeshError } from '@zenmesh/errors';
import { verifyJoinToken } from '@zenmesh/identity';
import { validateSvid, verifyRenewalProof } from '@zenmesh/pki';
import type { AuditLog } from './audit-log.js';
import type { PersistedState, SvidRecord } from './ca-state.js';
import type { IssuedResult } from './ca-types.js';
import { CaError } from './errors.js';

/** What joining and renewing need of the CA core (its state, clock, audit log and issuance step). */
export interface EnrolmentContext {
  masterKey: Uint8Array;
  trustDomain: string;
  s: PersistedState;
  audit: AuditLog;
  now(): Date;
  bundle(): { version: number; pems: string[] };
  revokedSet(): Set<string>;
  issue(
    spiffeId: string,
    key: { csrPem: string },
    via: SvidRecord['via'],
    commit: () => void,
    probeTtlSeconds?: number,
  ): Promise<IssuedResult>;
  refuse(
    action: 'join.refused' | 'renew.refused',
    actor: string,
    err: CaError,
    details: Record<string, unknown>,
  ): CaError;
}

/**
 * A workload's first SVID: the one-time join token (MAC and expiry, then spent exactly once, checked again
 * after the asynchronous signing so two concurrent joins with one token cannot both win) and a CSR for the
 * SPIFFE ID the token admits. Every refusal is audited with its code.
 */
export async function joinWithToken(
  ctx: EnrolmentContext,
  token: string,
  csrPem: string,
): Promise<IssuedResult> {
  const { masterKey, s, now, audit, issue, refuse } = ctx;
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
    result = await issue(
      claims.spiffeId,
      { csrPem },
      claims.probe ? 'probe' : 'join',
      () => {
        // Checked again after the (async) signing: two concurrent joins with one token, one wins.
        if (s.usedJoinTokens[claims.id]) throw spent();
        s.usedJoinTokens[claims.id] = claims.expiresAt.toISOString();
      },
      claims.svidTtlSeconds,
    );
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
}

/**
 * A renewal over mTLS: the current SVID must be valid against the bundle, be the caller's own (the identity
 * its client certificate proved), unrevoked and not a probe SVID, and the proof must verify with its key.
 */
export async function renewOwnSvid(
  ctx: EnrolmentContext,
  callerId: string,
  req: { csrPem: string; currentCertificatePem: string; proof: Uint8Array },
): Promise<IssuedResult> {
  const { s, now, audit, issue, refuse, bundle, revokedSet, trustDomain } = ctx;
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
}
