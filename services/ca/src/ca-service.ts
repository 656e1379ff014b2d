import { renameSync, writeFileSync } from 'node:fs';
import { connectionAgeFor, createPeerGuard } from '@zenmesh/identity';
import { generateKeyPair } from '@zenmesh/pki';
import { CaService } from '@zenmesh/proto';
import {
  createIdentityProvider,
  createMeshServer,
  type IdentityProvider,
  MESH_POLICY,
  type MessageIntegrity,
  type PeerCheck,
  type PolicyTable,
} from '@zenmesh/rpc';
import type { Logger, Meter } from '@zenmesh/telemetry';
import { createCaCore } from './ca-core.js';
import { createCaServiceImpl } from './ca-grpc.js';
import type { CaCore } from './ca-types.js';
import { startJoinListener } from './join-listener.js';
import { createMtlsProbe } from './probe.js';
import { createRotationController, type RotationController, type RotationProbe } from './rotation.js';

export interface CaServiceOptions {
  /** Where the gRPC server's refusal counter is recorded. */
  meter?: Meter;
  logger: Logger;
  /** Verifies every request to CaService and signs the answers; `false` for mTLS alone (tests). */
  integrity: MessageIntegrity | false;
  trustDomain: string;
  namespace: string;
  /** Holds master.key; the CA keeps everything of its own under `<secretsDir>/ca/`. */
  secretsDir: string;
  /** host:port for the mTLS gRPC server; port 0 picks a free one. */
  grpcListen: string;
  /** host:port for the join listener (server-authenticated TLS, Join only). */
  joinListen: string;
  /** Lifetime of issued SVIDs (default 3600). Workloads renew at half of it. */
  svidTtlSeconds?: number;
  /** The mesh policy table; default MESH_POLICY (its CaService rows; Join is served on the join listener only). */
  policy?: PolicyTable;
  rotation?: { confirmTimeoutMs?: number; reissueTimeoutMs?: number; probe?: RotationProbe };
  /** A file to keep the current trust bundle in (public; rewritten atomically on every change), for launchers. */
  bundleFile?: string;
  /** Close client connections this long after they opened (default: half the SVID lifetime, 30 s–30 min). */
  maxConnectionAgeMs?: number;
  now?: () => Date;
}

export interface RunningCaService {
  ready: { grpc: string; join: string };
  core: CaCore;
  rotation: RotationController;
  /** The CA's own live identity (its SVID and the current bundle). */
  identity: IdentityProvider;
  stop(): Promise<void>;
}

/**
 * Starts the CA: opens (or creates) its sealed keys and state in the secrets directory, issues itself an SVID
 * (renewed at half its lifetime, and at once when a rotation asks), serves CaService over mTLS and Join on the
 * join listener. main.ts only reads configuration and calls this.
 */
export async function startCaService(options: CaServiceOptions): Promise<RunningCaService> {
  const { logger } = options;
  const core = await createCaCore({
    secretsDir: options.secretsDir,
    trustDomain: options.trustDomain,
    namespace: options.namespace,
    logger,
    ...(options.svidTtlSeconds ? { svidTtlSeconds: options.svidTtlSeconds } : {}),
    ...(options.now ? { now: options.now } : {}),
  });

  const own = async () => {
    const keyPair = await generateKeyPair();
    const issued = await core.issueOwn(keyPair.publicKeyPem);
    return {
      issued,
      identity: { cert: issued.certPem, key: keyPair.privateKeyPem, ca: core.bundle().pems.join('\n') },
    };
  };
  const first = await own();
  const identity = createIdentityProvider(first.identity);
  let renewTimer: NodeJS.Timeout | undefined;
  let stopped = false;
  const scheduleRenewal = (notAfter: Date) => {
    if (renewTimer) clearTimeout(renewTimer);
    const delay = Math.max((notAfter.getTime() - Date.now()) / 2, 100);
    renewTimer = setTimeout(() => void renewOwn(), delay);
    renewTimer.unref();
  };
  let renewing: Promise<void> | undefined;
  const renewOwn = () => {
    renewing ??= own()
      .then(({ issued, identity: next }) => {
        if (stopped) return;
        identity.update({ ...next, ca: core.bundle().pems.join('\n') });
        scheduleRenewal(issued.notAfter);
      })
      .catch((err: unknown) => {
        logger.error({ err }, 'renewing the CA’s own SVID failed; retrying');
        if (!stopped) {
          renewTimer = setTimeout(() => void renewOwn(), 1000);
          renewTimer.unref();
        }
      })
      .finally(() => {
        renewing = undefined;
      });
    return renewing;
  };
  scheduleRenewal(first.issued.notAfter);
  const writeBundle = () => {
    if (!options.bundleFile) return;
    const tmp = `${options.bundleFile}.tmp`;
    writeFileSync(
      tmp,
      core
        .bundle()
        .pems.map((p) => (p.endsWith('\n') ? p : `${p}\n`))
        .join(''),
      { mode: 0o644 },
    );
    renameSync(tmp, options.bundleFile);
  };
  writeBundle();
  const unsubscribe = core.subscribe((event) => {
    if (event.type === 'bundle') {
      writeBundle();
      const ca = core.bundle().pems.join('\n');
      if (identity.current().ca !== ca) identity.update({ ...identity.current(), ca });
    } else if (event.type === 'renew' && event.spiffeIds.includes(core.ownId)) {
      void renewOwn();
    }
  });

  const rotation = createRotationController({
    core,
    logger,
    probe: options.rotation?.probe ?? createMtlsProbe(core, options.integrity),
    ...(options.rotation?.confirmTimeoutMs ? { confirmTimeoutMs: options.rotation.confirmTimeoutMs } : {}),
    ...(options.rotation?.reissueTimeoutMs ? { reissueTimeoutMs: options.rotation.reissueTimeoutMs } : {}),
  });

  const stopping = new AbortController();
  const server = createMeshServer({
    integrity: options.integrity,
    verifyPeer: createCaPeerCheck(core),
    maxConnectionAgeMs: options.maxConnectionAgeMs ?? connectionAgeOf(core),
    service: 'ca',
    identity,
    trustDomain: options.trustDomain,
    namespace: options.namespace,
    logger,
    policy: options.policy ?? MESH_POLICY,
    ...(options.meter === undefined ? {} : { meter: options.meter }),
  });
  server.register(CaService, createCaServiceImpl({ core, rotation, stopping: stopping.signal }));
  const { address } = await server.listen(options.grpcListen);
  const join = await startJoinListener({ core, identity, listen: options.joinListen, logger });
  logger.info({ grpc: address, join: join.address, bundleVersion: core.bundle().version }, 'CA ready');

  return {
    ready: { grpc: address, join: join.address },
    core,
    rotation,
    identity,
    async stop() {
      stopped = true;
      if (renewTimer) clearTimeout(renewTimer);
      unsubscribe();
      rotation.close();
      stopping.abort();
      await join.close();
      await server.shutdown({ graceMs: 5_000 });
    },
  };
}

/**
 * The CA's own per-call peer check: the workload guard of `@zenmesh/identity` (X509-SVID profile, trust
 * domain, the certificate's validity window on the CA's clock) over the CA's revocation list itself, so a
 * revoked or expired workload is refused on its next call, even on a connection that is still open.
 */
const createCaPeerCheck = (core: CaCore): PeerCheck => {
  const guard = createPeerGuard({
    trustDomain: core.trustDomain,
    revocations: { isRevoked: (serial) => core.isRevoked(serial) },
    now: () => core.now(),
  });
  return (cert) => guard.verify(cert);
};

/** Connections re-handshake at 0.4 of an SVID lifetime, so none outlives the certificate it was opened with. */
const connectionAgeOf = (core: CaCore) => connectionAgeFor(core.svidTtlSeconds * 1000);
