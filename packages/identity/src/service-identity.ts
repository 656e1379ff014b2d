import { X509Certificate } from 'node:crypto';
import { CLOCK_SKEW_TOLERANCE_MS, spiffeIdFor } from '@zenmesh/pki';
import { type IdentityProvider, loadTlsIdentity, type MessageIntegrity, type PeerCheck } from '@zenmesh/rpc';
import type { Logger } from '@zenmesh/telemetry';
import { createPeerGuard, type PeerGuard } from './peer-guard.js';
import { createRevocationList } from './revocation-list.js';
import type { SvidFilePaths } from './svid-files.js';
import { startWorkloadIdentity, type WorkloadIdentity } from './workload-identity.js';

export interface ServiceIdentityOptions {
  service: string;
  trustDomain: string;
  namespace: string;
  logger: Logger;
  /** Signs the agent's calls to the CA (the process's message integrity, built first); `false` for mTLS alone. */
  integrity: MessageIntegrity | false;
  /**
   * Run the workload agent (the normal case): join with the token, renew, watch bundle and revocations.
   * `files` keeps the SVID on disk so a restart can resume from it without a token.
   */
  agent?: {
    caAddress: string;
    caJoinAddress: string;
    bundlePem: string;
    joinToken?: string;
    files?: SvidFilePaths;
    servingAddress?: string;
    /** Wait this long before confirming a new bundle to the CA (see WorkloadIdentityOptions.ackDelayMs). */
    ackDelayMs?: number;
  };
  /**
   * Fallback when no agent runs in this process: PEM files that someone else keeps current (the launcher's
   * agent on the workload's behalf). Followed on disk; the guard then checks the SVID profile and trust
   * domain only, since this process does not receive the revocation list.
   */
  files?: { cert: string; key: string; ca: string };
}

/** What a service's main.ts needs from its identity: one object to spread into servers and channels. */
export interface ServiceIdentity {
  readonly spiffeId: string;
  readonly mode: 'agent' | 'files';
  readonly provider: IdentityProvider;
  readonly guard: PeerGuard;
  /** The per-call peer check for `createMeshServer({ verifyPeer })` and `createMeshChannel({ verifyPeer })`. */
  readonly verifyPeer: PeerCheck;
  /** `{ identity, verifyPeer }`, to spread into createMeshServer / createMeshChannel options. */
  readonly mesh: { identity: IdentityProvider; verifyPeer: PeerCheck };
  /**
   * For `maxConnectionAgeMs` of servers: 0.4 of the SVID lifetime (1 s to 30 min), so connections re-handshake
   * with current certificates before the ones they were opened with expire (the peer guard refuses an expired
   * certificate on every call, open connection or not).
   */
  readonly connectionAgeMs: number;
  /** The agent, in agent mode. */
  readonly agent: WorkloadIdentity | undefined;
  /** Tell the CA where this workload serves gRPC (it probes canaries there during a CA rotation). */
  setServingAddress(address: string): void;
  stop(): void;
}

/**
 * Starts a service's identity: the workload agent when CA addresses are given (join → renew at half-life →
 * bundle and revocation watches), else PEM files followed on disk. Either way the result plugs into
 * createMeshServer and createMeshChannel with the per-call peer guard.
 */
export async function startServiceIdentity(opts: ServiceIdentityOptions): Promise<ServiceIdentity> {
  const { trustDomain, namespace } = opts;
  if (opts.agent) {
    const agent = await startWorkloadIdentity({
      service: opts.service,
      trustDomain,
      namespace,
      logger: opts.logger,
      caAddress: opts.agent.caAddress,
      caJoinAddress: opts.agent.caJoinAddress,
      bundlePem: opts.agent.bundlePem,
      integrity: opts.integrity,
      ...(opts.agent.joinToken ? { joinToken: opts.agent.joinToken } : {}),
      ...(opts.agent.files ? { files: opts.agent.files } : {}),
      ...(opts.agent.servingAddress ? { servingAddress: opts.agent.servingAddress } : {}),
      ...(opts.agent.ackDelayMs ? { ackDelayMs: opts.agent.ackDelayMs } : {}),
    });
    const verifyPeer: PeerCheck = (cert) => agent.guard.verify(cert);
    return {
      spiffeId: agent.spiffeId,
      mode: 'agent',
      connectionAgeMs: connectionAgeOf(agent.provider.current().cert),
      provider: agent.provider,
      guard: agent.guard,
      verifyPeer,
      mesh: { identity: agent.provider, verifyPeer },
      agent,
      setServingAddress: (address) => agent.setServingAddress(address),
      stop: () => agent.stop(),
    };
  }
  if (!opts.files) throw new TypeError('startServiceIdentity: give agent or files');
  const provider = loadTlsIdentity(opts.files);
  const guard = createPeerGuard({ trustDomain, revocations: createRevocationList() });
  const verifyPeer: PeerCheck = (cert) => guard.verify(cert);
  return {
    spiffeId: spiffeIdFor(opts.service, { trustDomain, namespace }),
    mode: 'files',
    connectionAgeMs: connectionAgeOf(provider.current().cert),
    provider,
    guard,
    verifyPeer,
    mesh: { identity: provider, verifyPeer },
    agent: undefined,
    setServingAddress: () => undefined,
    stop: () => provider.close(),
  };
}

// Our CA back-dates notBefore for clock skew (CLOCK_SKEW_TOLERANCE_MS); that part is not usable lifetime.
const BACKDATE_MS = CLOCK_SKEW_TOLERANCE_MS;

/**
 * How long a server keeps a connection: a workload renews at half its SVID's lifetime, so a connection opened
 * just before a renewal, with the old certificate, must close before that certificate expires — 0.4 of the
 * lifetime leaves room for grpc-js's ±10% jitter on the connection age.
 */
export function connectionAgeFor(lifetimeMs: number): number {
  return Math.min(Math.max(Math.floor(lifetimeMs * 0.4), 1_000), 30 * 60_000);
}

function connectionAgeOf(certPem: string): number {
  const cert = new X509Certificate(certPem);
  const span = cert.validToDate.getTime() - cert.validFromDate.getTime();
  return connectionAgeFor(span > BACKDATE_MS ? span - BACKDATE_MS : span);
}
