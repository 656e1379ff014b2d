import type { MessageInitShape } from '@bufbuild/protobuf';
import { type Timestamp, timestampDate } from '@bufbuild/protobuf/wkt';
import type {
  AbortRotationRequestSchema,
  AbortRotationResponse,
  RotateRequestSchema,
  RotateResponse,
  Rotation,
  StatusRequestSchema,
  StatusResponse,
} from '@zenmesh/proto';
import type { CallOptions } from '@zenmesh/rpc';
import type { Logger } from '@zenmesh/telemetry';
import { z } from 'zod';
import { UpstreamAnswerError } from './api-errors.js';
import { optionalJsonBody, parse, type Route, requireClusterKey } from './route-kit.js';

/**
 * The CaService methods the bff may call (MESH_POLICY grants `sa/bff` exactly these three; Revoke stays the
 * CLI's): a structural slice of the rpc client.
 */
export interface CaAdminClient {
  status(req: MessageInitShape<typeof StatusRequestSchema>, o?: CallOptions): Promise<StatusResponse>;
  rotate(req: MessageInitShape<typeof RotateRequestSchema>, o?: CallOptions): Promise<RotateResponse>;
  abortRotation(
    req: MessageInitShape<typeof AbortRotationRequestSchema>,
    o?: CallOptions,
  ): Promise<AbortRotationResponse>;
}

const iso = (t: Timestamp | undefined) => (t === undefined ? null : timestampDate(t).toISOString());

export const rotationJson = (r: Rotation) => ({
  id: r.id,
  phase: r.phase,
  from: r.fromAuthority,
  to: r.toAuthority === '' ? null : r.toAuthority,
  canaries: r.canaries,
  startedAt: iso(r.startedAt),
  updatedAt: iso(r.updatedAt),
  error: r.error === '' ? null : r.error,
  history: r.history.map((h) => ({ at: iso(h.at), phase: h.phase, message: h.message })),
});

export const caStatusJson = (s: StatusResponse) => ({
  trustDomain: s.trustDomain,
  authorities: s.authorities.map((a) => ({
    id: a.id,
    state: a.state,
    subject: a.subject,
    fingerprint: a.fingerprint,
    notBefore: iso(a.notBefore),
    notAfter: iso(a.notAfter),
  })),
  bundle: { version: Number(s.bundleVersion), fingerprints: s.bundleFingerprints },
  workloads: s.workloads.map((w) => ({
    spiffeId: w.spiffeId,
    serial: w.serial,
    issuer: w.issuerId,
    issuedAt: iso(w.issuedAt),
    notAfter: iso(w.notAfter),
    bundleAcked: Number(w.bundleVersionAcked),
  })),
  rotation: s.rotation === undefined ? null : rotationJson(s.rotation),
  revokedSerials: s.revokedSerials,
});

/** Service account names of the mesh (`sa/<name>`), re-issued first and probed during a rotation. */
export const rotateBody = z.strictObject({
  canaries: z
    .array(z.string().regex(/^[a-z][a-z0-9-]{0,62}$/, 'a service name'))
    .max(8)
    .optional(),
});

/**
 * /api/v1/ca/*: the CA's state and its rotation, for the cluster's owner only — a key or user bound to no
 * tenant, with scope `admin`. A tenant's admin is refused (403): the mesh's certificates are not a tenant's.
 * The CA records the bff as the caller; the bff logs who asked (`actor`).
 */
export function createCaRoutes(ca: CaAdminClient, logger: Logger): Route[] {
  return [
    {
      method: 'GET',
      pattern: /^\/api\/v1\/ca$/,
      scopes: ['admin'],
      doc: { summary: 'The CA: authorities, trust bundle, every workload SVID, rotation state' },
      async handle({ caller }) {
        requireClusterKey(caller);
        return { status: 200, body: caStatusJson(await ca.status({})) };
      },
    },
    {
      method: 'POST',
      pattern: /^\/api\/v1\/ca\/rotate$/,
      scopes: ['admin'],
      doc: { summary: 'Start a CA rotation (optionally with canary services)', body: rotateBody },
      async handle({ caller, req, audit }) {
        requireClusterKey(caller);
        const input = parse(rotateBody, await optionalJsonBody(req));
        const { rotation } = await ca.rotate({ canaries: input.canaries ?? [] });
        if (rotation === undefined) throw new UpstreamAnswerError('Rotate', 'a rotation');
        logger.info({ actor: audit.actor, rotation: rotation.id }, 'CA rotation started through the bff');
        return { status: 202, body: { rotation: rotationJson(rotation) } };
      },
    },
    {
      method: 'POST',
      pattern: /^\/api\/v1\/ca\/rotation\/abort$/,
      scopes: ['admin'],
      doc: { summary: 'Roll the running CA rotation back' },
      async handle({ caller, audit }) {
        requireClusterKey(caller);
        const { rotation } = await ca.abortRotation({});
        if (rotation === undefined) throw new UpstreamAnswerError('AbortRotation', 'a rotation');
        logger.warn({ actor: audit.actor, rotation: rotation.id }, 'CA rotation abort through the bff');
        return { status: 200, body: { rotation: rotationJson(rotation) } };
      },
    },
  ];
}
