import { X509Certificate } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { Code, createProbeSession, probeCall, signatureMetadata } from '@zenmesh/rpc';
import { CliError } from '../errors.js';
import { type ProbeKit, signerFor } from './probe-kit.js';
import { FLOWS, flowName } from './security-flows.js';
import { describeProbeResult, prepareFlow } from './security-probe.js';

/** Live checks of the peer certificate itself, beyond what the handshake saw. */
export const PEER_EDGE_CHECKS = ['expired_svid_open_connection', 'expired_svid_new_connection'] as const;
export type PeerEdgeCheck = (typeof PEER_EDGE_CHECKS)[number];

export interface PeerEdgeResult {
  check: PeerEdgeCheck;
  pass: boolean;
  expected: string;
  observed: string;
}

export interface PeerEdgeReport {
  ok: boolean;
  flow: string;
  results: PeerEdgeResult[];
}

// Seconds of life for the probe SVID: short enough to wait for, long enough for one call while it is valid.
const SVID_TTL_SECONDS = 2;
const ADMISSION = new Set<number>([Code.UNAVAILABLE, Code.UNAUTHENTICATED, Code.PERMISSION_DENIED]);

/**
 * A peer whose certificate expires while its connection stays open: with a probe SVID that lives two seconds
 * (from the mesh's CA, through a probe join token), one legitimate call on `ingester → egress` while it is
 * valid, then — on the same connection, after notAfter — the next call must be refused by the server's
 * per-call peer guard (`UNAUTHENTICATED svid_expired`); a new connection with it must fail the handshake.
 */
export async function probePeerEdge(kit: ProbeKit): Promise<PeerEdgeReport> {
  const spec = FLOWS.find((f) => f.client === 'ingester' && f.server === 'egress');
  if (!spec) throw new CliError('ERR_STATE', 'no ingester → egress flow to probe');
  const f = prepareFlow(kit, spec);
  const signer = signerFor(kit);
  const client = await kit.mint(spec.client, kit.namespace, undefined, { svidTtlSeconds: SVID_TTL_SECONDS });
  const notAfter = new X509Certificate(client.cert).validToDate;
  const signed = () =>
    signatureMetadata(
      signer.signRequest({ path: f.path, callerId: client.id, serverId: f.target.serverId, body: f.body }),
    );
  const results: PeerEdgeResult[] = [];

  const session = createProbeSession({ ...f.target, client });
  try {
    const whileValid = await session.call(f.path, f.body, signed());
    // X.509 times have whole seconds and the guard refuses strictly after notAfter: wait a little past it.
    await sleep(Math.max(0, notAfter.getTime() - Date.now() + 1200));
    const afterExpiry = await session.call(f.path, f.body, signed());
    const admitted = !ADMISSION.has(whileValid.code);
    results.push({
      check: 'expired_svid_open_connection',
      expected: 'admitted while valid, then UNAUTHENTICATED svid_expired on the same connection',
      observed: `${describeProbeResult(whileValid)} while valid; ${describeProbeResult(afterExpiry)} after notAfter`,
      pass: admitted && afterExpiry.code === Code.UNAUTHENTICATED && afterExpiry.details === 'svid_expired',
    });
  } finally {
    session.close();
  }
  const fresh = await probeCall({ ...f.target, client }, f.path, f.body, signed());
  results.push({
    check: 'expired_svid_new_connection',
    expected: 'UNAVAILABLE (TLS handshake refused)',
    observed: describeProbeResult(fresh),
    pass: fresh.code === Code.UNAVAILABLE,
  });
  return { ok: results.every((r) => r.pass), flow: flowName(spec), results };
}
