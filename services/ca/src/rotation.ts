import { randomBytes } from 'node:crypto';
import { ZenMeshError } from '@zenmesh/errors';
import { parseSpiffeId, spiffeIdFor } from '@zenmesh/pki';
import type { Logger } from '@zenmesh/telemetry';
import type { AuthorityRecord, RotationRecord } from './ca-state.js';
import type { CaCore } from './ca-types.js';
import { CaError } from './errors.js';

/** Checks one canary over mutual TLS; throws an Error whose message says why it failed. */
export type RotationProbe = (
  target: { spiffeId: string; address: string },
  authority: AuthorityRecord,
) => Promise<void>;

export interface RotationOptions {
  core: CaCore;
  logger: Logger;
  probe: RotationProbe;
  /** How long every verifier has to confirm the new bundle. Default 60 s. */
  confirmTimeoutMs?: number;
  /** How long workloads have to renew from the other CA. Default 60 s. */
  reissueTimeoutMs?: number;
  pollMs?: number;
}

export interface RotationController {
  /** Starts a rotation in the background and returns its first state. */
  start(canaries: readonly string[]): RotationRecord;
  /** Rolls the running rotation back; resolves with the settled record. */
  abort(): Promise<RotationRecord>;
  current(): RotationRecord | undefined;
  /** Resolves when the running rotation (if any) reaches a final or the retiring phase. */
  settled(): Promise<RotationRecord | undefined>;
  close(): void;
}

const FINAL = new Set(['completed', 'rolled_back', 'failed']);
// Before the new CA signs everyone, going back is clean: that is when abort and automatic rollback apply.
const ABORTABLE = new Set(['preparing', 'distributing', 'canary', 'probing', 'rolling_out']);

/** Thrown inside the workflow when an operator aborts it (or the CA stops): rolled back, reason kept. */
class Aborted extends ZenMeshError<'ERR_ROTATION_ABORTED'> {
  override readonly name = 'RotationAborted';
  constructor(reason: string) {
    super('ERR_ROTATION_ABORTED', reason);
  }
}

/**
 * The CA rotation workflow (docs/operations.md): prepare a new CA → distribute a bundle holding old + new
 * and wait until every workload confirms it → re-issue the canaries from the new CA → probe them over mTLS →
 * promote the new CA and re-issue everyone → retire the old CA once no live SVID chains to it. Any failure
 * before the rollout is complete rolls back automatically and records why.
 */
export function createRotationController(opts: RotationOptions): RotationController {
  const { core, logger } = opts;
  const confirmTimeout = opts.confirmTimeoutMs ?? 60_000;
  const reissueTimeout = opts.reissueTimeoutMs ?? 60_000;
  const pollMs = opts.pollMs ?? 100;
  let running: Promise<void> | undefined;
  let abortReason: string | undefined;
  let closed = false;
  let retireTimer: NodeJS.Timeout | undefined;

  const current = () => core.state.rotation;
  const step = (phase: string, message: string, error?: string) => {
    const r = current();
    if (!r) return;
    const at = core.now().toISOString();
    const next: RotationRecord = {
      ...r,
      phase,
      updatedAt: at,
      error: error ?? r.error,
      history: [...r.history, { at, phase, message }],
    };
    core.setRotation(next);
    const action =
      phase === 'rolled_back'
        ? 'rotation.rolled_back'
        : phase === 'failed'
          ? 'rotation.failed'
          : phase === 'completed'
            ? 'rotation.completed'
            : 'rotation.step';
    core.audit.append(action, core.ownId, { rotation: r.id, phase, message });
    logger.info({ rotation: r.id, phase }, message);
  };

  const waitFor = async (check: () => string | undefined, timeoutMs: number, what: string) => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (abortReason !== undefined) throw new Aborted(abortReason);
      if (closed) throw new Aborted('the CA is stopping');
      const missing = check();
      if (missing === undefined) return;
      if (Date.now() > deadline) throw new CaError('ERR_ROTATION_TIMEOUT', `${what}: ${missing}`);
      await new Promise((r) => setTimeout(r, pollMs));
    }
  };

  const workloadsNotOn = (authorityId: string, only?: readonly string[]) => {
    const pending: string[] = [];
    for (const [id, svid] of core.liveWorkloads()) {
      if (only && !only.includes(id)) continue;
      if (svid.issuerId !== authorityId) pending.push(id);
    }
    return pending;
  };

  const scheduleRetirement = () => {
    const r = current();
    if (!r || r.phase !== 'retiring' || closed) return;
    const left = core.liveSvidsOf(r.fromAuthority);
    if (left.length === 0) {
      core.retire(r.fromAuthority, `rotation ${r.id}: no live SVID chains to it`);
      step('completed', `retired ${r.fromAuthority}; ${r.toAuthority} is the only CA`);
      return;
    }
    // The old CA stays trusted until the last SVID it signed expires, so no established peer is cut off.
    const last = Math.max(...left.map((s) => new Date(s.notAfter).getTime()));
    const wait = Math.min(Math.max(last - core.now().getTime() + 50, pollMs), 60_000);
    retireTimer = setTimeout(scheduleRetirement, wait);
    retireTimer.unref();
  };

  const rollback = async (reason: string) => {
    const r = current();
    if (!r) return;
    step('rolling_back', `rolling back: ${reason}`, reason);
    if (!r.toAuthority) {
      step('rolled_back', `rolled back before a new CA existed: ${reason}`, reason);
      return;
    }
    const to = core.authority(r.toAuthority);
    if (to.state === 'active') core.promote(r.fromAuthority);
    const onNew = [...core.liveWorkloads()].filter(([, s]) => s.issuerId === r.toAuthority).map(([id]) => id);
    core.setIssuer(r.canaries, undefined);
    core.requestRenew(onNew);
    abortReason = undefined;
    try {
      await waitFor(
        () => {
          const left = workloadsNotOn(r.fromAuthority, onNew);
          return left.length ? left.join(', ') : undefined;
        },
        reissueTimeout,
        'workloads still on the new CA',
      );
    } catch (err) {
      step('failed', `rollback incomplete (${(err as Error).message}); both CAs stay trusted`, reason);
      return;
    }
    core.retire(r.toAuthority, `rotation ${r.id} rolled back: ${reason}`);
    step('rolled_back', `rolled back: ${reason}`, reason);
  };

  const run = async (canaries: string[]) => {
    const r = current() as RotationRecord;
    try {
      const next = await core.prepareAuthority();
      core.setRotation({ ...r, toAuthority: next.id });
      step(
        'distributing',
        `prepared ${next.id}; distributing a bundle with ${r.fromAuthority} and ${next.id}`,
      );
      const version = core.setInBundle(next.id, true);
      await waitFor(
        () => {
          const pending = [...core.liveWorkloads().keys()].filter(
            (id) => (core.state.acks[id] ?? 0) < version,
          );
          return pending.length ? pending.join(', ') : undefined;
        },
        confirmTimeout,
        `not every workload confirmed bundle v${version}`,
      );
      if (canaries.length) {
        step('canary', `every workload holds bundle v${version}; re-issuing canaries ${canaries.join(', ')}`);
        core.setIssuer(canaries, next.id);
        core.requestRenew(canaries);
        await waitFor(
          () => {
            const left = canaries.filter((id) => core.liveWorkloads().get(id)?.issuerId !== next.id);
            return left.length ? left.join(', ') : undefined;
          },
          reissueTimeout,
          'canaries not re-issued from the new CA',
        );
        step('probing', `canaries hold SVIDs from ${next.id}; probing over mTLS`);
        for (const id of canaries) {
          const address = core.state.servingAddresses[id];
          if (!address) {
            throw new CaError('ERR_ROTATION_PROBE', `canary ${id} reported no serving address to probe`);
          }
          try {
            await opts.probe({ spiffeId: id, address }, core.authority(next.id));
          } catch (err) {
            throw new CaError(
              'ERR_ROTATION_PROBE',
              `mTLS probe of canary ${id} at ${address} failed: ${(err as Error).message}`,
              { cause: err },
            );
          }
        }
      } else {
        step('probing', `every workload holds bundle v${version}; no canaries asked for`);
      }
      step('rolling_out', `promoting ${next.id}; re-issuing every workload`);
      core.promote(next.id);
      core.requestRenew(
        [...core.liveWorkloads().keys()].filter((id) => core.liveWorkloads().get(id)?.issuerId !== next.id),
      );
      await waitFor(
        () => {
          const left = workloadsNotOn(next.id);
          return left.length ? left.join(', ') : undefined;
        },
        reissueTimeout,
        'workloads not re-issued from the new CA',
      );
      step(
        'retiring',
        `every workload holds an SVID from ${next.id}; ${r.fromAuthority} retires when its last SVID expires`,
      );
      scheduleRetirement();
    } catch (err) {
      if (closed) return;
      const reason = err instanceof Aborted ? `aborted: ${err.message}` : (err as Error).message;
      logger.warn({ rotation: r.id, reason }, 'rotation failed; rolling back');
      await rollback(reason);
    }
  };

  // A CA that restarts mid-rotation cannot know what its workloads did meanwhile: roll back, or keep retiring.
  const resumed = current();
  if (resumed && !FINAL.has(resumed.phase)) {
    if (resumed.phase === 'retiring') scheduleRetirement();
    else if (resumed.toAuthority) running = rollback('the CA restarted during the rotation');
    else step('failed', 'the CA restarted before the new CA was prepared', 'the CA restarted');
  }

  const toId = (name: string) => {
    if (name.startsWith('spiffe://')) {
      parseSpiffeId(name);
      return name;
    }
    return spiffeIdFor(name, { trustDomain: core.trustDomain, namespace: core.namespace });
  };

  return {
    start(canaryNames) {
      const r = current();
      if (r && !FINAL.has(r.phase)) {
        throw new CaError('ERR_ROTATION_STATE', `rotation ${r.id} is still ${r.phase}`);
      }
      const canaries = [...new Set(canaryNames.map(toId))];
      const live = core.liveWorkloads();
      const unknown = canaries.filter((id) => !live.has(id));
      if (unknown.length)
        throw new CaError('ERR_ROTATION_STATE', `no live SVID for canary ${unknown.join(', ')}`);
      const at = core.now().toISOString();
      const record: RotationRecord = {
        id: `rot_${randomBytes(6).toString('hex')}`,
        phase: 'preparing',
        fromAuthority: core.active().id,
        toAuthority: '',
        canaries,
        startedAt: at,
        updatedAt: at,
        error: '',
        history: [
          { at, phase: 'preparing', message: `rotation started; canaries: ${canaries.join(', ') || 'none'}` },
        ],
      };
      core.setRotation(record);
      core.audit.append('rotation.step', core.ownId, { rotation: record.id, phase: 'preparing', canaries });
      abortReason = undefined;
      running = run(canaries);
      return record;
    },
    async abort() {
      const r = current();
      if (!r || !ABORTABLE.has(r.phase)) {
        throw new CaError(
          'ERR_ROTATION_STATE',
          r
            ? `rotation ${r.id} is ${r.phase}; only a rotation before its full rollout can be aborted`
            : 'no rotation is running',
        );
      }
      abortReason = 'by the operator';
      await running;
      return current() as RotationRecord;
    },
    current,
    async settled() {
      await running;
      return current();
    },
    close() {
      closed = true;
      if (retireTimer) clearTimeout(retireTimer);
    },
  };
}
