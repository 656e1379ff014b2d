import type { MeshIdentityEnv, MessageIntegrityEnv } from '@zenmesh/config';
import type { ServiceIdentity } from '@zenmesh/identity';
import {
  createMeshChannel,
  createMeshServer,
  createMessageIntegrity,
  type MeshChannel,
  type MeshServer,
  type MeshServerOptions,
  type MeshTransport,
  type RunningMessageIntegrity,
} from '@zenmesh/rpc';
import type { Logger, Meter } from '@zenmesh/telemetry';
import { startMeshIdentity } from './mesh-identity.js';
import { requireSharedStore } from './shared-store-check.js';
import { observeSvidExpiry } from './svid-metrics.js';

/**
 * Per-message HMAC + replay protection of one process (DESIGN.md), built from `messageIntegrityEnv`. It is
 * returned, never installed anywhere: whoever builds servers and channels passes it to them. The CA calls this
 * alone (it has no workload identity); every other service gets it through `startMeshRuntime`.
 */
export async function startMessageIntegrity(
  env: MessageIntegrityEnv & { ZENMESH_TRUST_DOMAIN: string; ZENMESH_NAMESPACE?: string },
  logger: Logger,
  service: string,
): Promise<RunningMessageIntegrity> {
  requireSharedStore(service, env);
  return createMessageIntegrity({
    secretsDir: env.ZENMESH_SECRETS_DIR,
    cluster: env.ZENMESH_TRUST_DOMAIN,
    // A message-keys.json for another workload is refused at start.
    workload: { service, namespace: env.ZENMESH_NAMESPACE ?? 'zenmesh' },
    redisUrl: env.REDIS_URL,
    redisPrefix: env.ZENMESH_REDIS_PREFIX,
    insecureSkipVerify: env.ZENMESH_INSECURE_DISABLE_HMAC,
    logger,
  });
}

/** What a service's main.ts builds once and passes to every part that serves or calls over the mesh. */
export interface MeshRuntime {
  /** The service account name (`sa/<service>`). */
  readonly service: string;
  readonly integrity: RunningMessageIntegrity;
  /** The started identity (agent or PEM files). */
  readonly identity: ServiceIdentity;
  /**
   * Identity provider, trust domain, namespace, integrity, per-call peer guard and connection age: to spread
   * into `createMeshServer` / `createMeshChannel` options, or to hand to a service that builds its own.
   */
  readonly mesh: MeshTransport;
  /** A channel to `peer` (its service account name) at `address`, with this runtime's transport. */
  channel(peer: string, address: string, options?: { timeoutMs?: number }): MeshChannel;
  /** A server for this service with this runtime's transport. */
  server(options: Omit<MeshServerOptions, keyof MeshTransport | 'service'>): MeshServer;
  /**
   * Tell the CA where this workload serves gRPC (it probes canaries there during a CA rotation):
   * ZENMESH_ADVERTISE_ADDR when it is set, else `address`.
   */
  setServingAddress(address: string): void;
  /** Stops the identity, then closes the integrity (its nonce store), in that order. */
  close(): Promise<void>;
}

/**
 * The runtime every mesh service but the CA starts first: message integrity (the workload agent's own calls
 * to the CA are signed with it), then the identity from `meshIdentityEnv`. Its per-call peer guard and
 * connection age travel in `mesh`, explicitly, to every server and channel built from this runtime.
 */
export async function startMeshRuntime(
  service: string,
  env: MeshIdentityEnv & MessageIntegrityEnv,
  logger: Logger,
  /** The process's meter (ServiceContext.meter): SVID expiry, and the rpc servers' refusal counter. */
  meter?: Meter,
): Promise<MeshRuntime> {
  const integrity = await startMessageIntegrity(env, logger, service);
  let identity: ServiceIdentity;
  try {
    identity = await startMeshIdentity(service, env, integrity, logger);
  } catch (err) {
    await integrity.close();
    throw err;
  }
  const mesh: MeshTransport = {
    identity: identity.provider,
    trustDomain: env.ZENMESH_TRUST_DOMAIN,
    namespace: env.ZENMESH_NAMESPACE,
    integrity,
    verifyPeer: identity.verifyPeer,
    maxConnectionAgeMs: identity.connectionAgeMs,
  };
  if (meter !== undefined) observeSvidExpiry(meter, () => identity.provider.current().cert);
  return {
    service,
    integrity,
    identity,
    mesh,
    channel: (peer, address, options = {}) => createMeshChannel({ ...mesh, ...options, peer, address }),
    server: (options) => createMeshServer({ ...(meter ? { meter } : {}), ...options, ...mesh, service }),
    setServingAddress: (address) => identity.setServingAddress(env.ZENMESH_ADVERTISE_ADDR ?? address),
    async close() {
      identity.stop();
      await integrity.close();
    },
  };
}
