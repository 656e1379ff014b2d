import { timestampFromDate } from '@bufbuild/protobuf/wkt';
import { describeCertificate } from '@zenmesh/pki';
import type { CaService } from '@zenmesh/proto';
import { Code, RpcError, type ServiceImpl } from '@zenmesh/rpc';
import type { RotationRecord } from './ca-state.js';
import type { CaCore, CaEvent } from './ca-types.js';
import { issuedSvidMessage } from './join-listener.js';
import type { RotationController } from './rotation.js';

const HOST_PORT = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):\d{1,5}$/;

const rotationMessage = (r: RotationRecord) => ({
  id: r.id,
  phase: r.phase,
  fromAuthority: r.fromAuthority,
  toAuthority: r.toAuthority,
  canaries: r.canaries,
  startedAt: timestampFromDate(new Date(r.startedAt)),
  updatedAt: timestampFromDate(new Date(r.updatedAt)),
  error: r.error,
  history: r.history.map((h) => ({
    at: timestampFromDate(new Date(h.at)),
    phase: h.phase,
    message: h.message,
  })),
});

/** Maps the CA's refusals to gRPC status codes with short, stable reasons (details stay in the log). */
function toRpcError(err: unknown): unknown {
  const code = (err as { code?: unknown }).code;
  const message = (err as Error).message;
  switch (code) {
    case 'ERR_RENEW_IDENTITY':
      return new RpcError(Code.PERMISSION_DENIED, 'renew_other_identity', { cause: err });
    case 'ERR_RENEW_PROOF':
      return new RpcError(Code.UNAUTHENTICATED, 'renew_proof_invalid', { cause: err });
    case 'ERR_REVOKED':
      return new RpcError(Code.PERMISSION_DENIED, 'svid_revoked', { cause: err });
    case 'ERR_CSR_INVALID':
    case 'ERR_KEY_INVALID':
      return new RpcError(Code.INVALID_ARGUMENT, 'csr_invalid', { cause: err });
    case 'ERR_ROTATION_STATE':
      // Operator-facing and free of secrets: the whole sentence is the useful part.
      return new RpcError(Code.FAILED_PRECONDITION, message, { cause: err });
    case 'ERR_SPIFFE_ID_INVALID':
      return new RpcError(Code.INVALID_ARGUMENT, 'spiffe_id_invalid', { cause: err });
  }
  if (err instanceof TypeError) return new RpcError(Code.INVALID_ARGUMENT, message, { cause: err });
  return err;
}

const guard =
  <A extends unknown[], R>(fn: (...args: A) => Promise<R>) =>
  async (...args: A): Promise<R> => {
    try {
      return await fn(...args);
    } catch (err) {
      throw toRpcError(err);
    }
  };

/** Waits for the next CA event (or the end of the call); returns false when the call is over. */
function eventStream(core: CaCore, signal: AbortSignal, stopping: AbortSignal) {
  const queue: CaEvent[] = [];
  let wake: (() => void) | undefined;
  const unsubscribe = core.subscribe((event) => {
    queue.push(event);
    wake?.();
  });
  const onEnd = () => wake?.();
  signal.addEventListener('abort', onEnd);
  stopping.addEventListener('abort', onEnd);
  return {
    drain: () => queue.splice(0),
    async next(): Promise<boolean> {
      if (signal.aborted || stopping.aborted) return false;
      if (queue.length === 0)
        await new Promise<void>((r) => {
          wake = r;
        });
      wake = undefined;
      return !signal.aborted && !stopping.aborted;
    },
    close() {
      unsubscribe();
      signal.removeEventListener('abort', onEnd);
      stopping.removeEventListener('abort', onEnd);
    },
  };
}

/**
 * The CaService handlers. Who may call which method is the policy table's business (MESH_POLICY); here every
 * workload method acts on the caller's own SPIFFE ID, taken from its mTLS certificate, never from the request.
 */
export function createCaServiceImpl(opts: {
  core: CaCore;
  rotation: RotationController;
  /** Aborted when the CA stops, so open watches end and the server can drain. */
  stopping: AbortSignal;
}): ServiceImpl<(typeof CaService)['method']> {
  const { core, rotation, stopping } = opts;
  return {
    async getTrustBundle() {
      return { trustDomain: core.trustDomain, caCertificatesPem: core.bundle().pems };
    },

    renew: guard(async (req, ctx) => {
      const issued = await core.renew(ctx.peer.spiffeId, {
        csrPem: req.csrPem,
        currentCertificatePem: req.currentCertificatePem,
        proof: req.proof,
      });
      ctx.logger.info({ serial: issued.serial }, 'SVID renewed');
      return { svid: issuedSvidMessage(issued) };
    }),

    async *watchTrustBundle(req, ctx) {
      const caller = ctx.peer.spiffeId;
      if (req.servingAddress) {
        if (!HOST_PORT.test(req.servingAddress))
          throw new RpcError(Code.INVALID_ARGUMENT, 'serving_address_invalid');
        core.setServingAddress(caller, req.servingAddress);
      }
      const events = eventStream(core, ctx.signal, stopping);
      try {
        let sent = -1;
        let renewNow = false;
        do {
          for (const e of events.drain())
            if (e.type === 'renew' && e.spiffeIds.includes(caller)) renewNow = true;
          const b = core.bundle();
          if (b.version !== sent || renewNow) {
            yield {
              trustDomain: core.trustDomain,
              version: BigInt(b.version),
              caCertificatesPem: b.pems,
              renewNow,
            };
            sent = b.version;
            renewNow = false;
          }
        } while (await events.next());
      } finally {
        events.close();
      }
    },

    async ackTrustBundle(req, ctx) {
      core.ack(ctx.peer.spiffeId, Number(req.version));
      return {};
    },

    async *watchRevocations(_req, ctx) {
      const events = eventStream(core, ctx.signal, stopping);
      try {
        let sent = -1;
        do {
          events.drain();
          const r = core.revocations();
          if (r.version !== sent) {
            yield { version: BigInt(r.version), serials: r.serials };
            sent = r.version;
          }
        } while (await events.next());
      } finally {
        events.close();
      }
    },

    async status() {
      const s = core.state;
      const b = core.bundle();
      const workloads = [...core.liveWorkloads().values()].map((w) => ({
        spiffeId: w.spiffeId,
        serial: w.serial,
        issuerId: w.issuerId,
        notAfter: timestampFromDate(new Date(w.notAfter)),
        issuedAt: timestampFromDate(new Date(w.issuedAt)),
        bundleVersionAcked: BigInt(s.acks[w.spiffeId] ?? 0),
        servingAddress: s.servingAddresses[w.spiffeId] ?? '',
      }));
      workloads.sort((a, b2) => a.spiffeId.localeCompare(b2.spiffeId));
      return {
        trustDomain: core.trustDomain,
        authorities: s.authorities.map((a) => {
          const info = describeCertificate(a.certPem);
          return {
            id: a.id,
            fingerprint: info.fingerprint,
            subject: info.subject,
            notBefore: timestampFromDate(info.notBefore),
            notAfter: timestampFromDate(info.notAfter),
            state: a.state,
          };
        }),
        bundleVersion: BigInt(b.version),
        bundleFingerprints: s.authorities
          .filter((a) => a.inBundle)
          .map((a) => describeCertificate(a.certPem).fingerprint),
        workloads,
        ...(s.rotation ? { rotation: rotationMessage(s.rotation) } : {}),
        revokedSerials: s.revoked.length,
      };
    },

    // The backend polls this to notify tenants of a rollback: the phase and the error, nothing about workloads.
    async lastRotation() {
      const r = core.state.rotation;
      return r ? { rotation: { ...rotationMessage(r), canaries: [], history: [] } } : {};
    },

    rotate: guard(async (req, ctx) => {
      const r = rotation.start(req.canaries);
      ctx.logger.info({ rotation: r.id, canaries: r.canaries }, 'CA rotation started');
      return { rotation: rotationMessage(r) };
    }),

    abortRotation: guard(async (_req, ctx) => {
      ctx.logger.warn('CA rotation abort requested');
      return { rotation: rotationMessage(await rotation.abort()) };
    }),

    revoke: guard(async (req, ctx) => {
      const serials = core.revoke(
        {
          ...(req.serial ? { serial: req.serial } : {}),
          ...(req.spiffeId ? { spiffeId: req.spiffeId } : {}),
          reason: req.reason || 'unspecified',
        },
        ctx.peer.spiffeId,
      );
      if (serials.length === 0) throw new RpcError(Code.NOT_FOUND, 'no_live_svid');
      ctx.logger.warn({ serials }, 'SVIDs revoked');
      return { serials };
    }),
  };
}
