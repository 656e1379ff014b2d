import type { ServiceIdentity } from '@zenmesh/identity';
import {
  createMessageIntegrity,
  type IdentityProvider,
  type RunningMessageIntegrity,
  useMeshDefaults,
  useMessageIntegrity,
} from '@zenmesh/rpc';
import type { Logger } from '@zenmesh/telemetry';
import { type MeshIdentityEnv, startMeshIdentity } from './mesh-identity.js';

/** The variables of `messageIntegrityEnv` once parsed by `loadConfig`. */
export interface MessageIntegrityEnv {
  ZENMESH_TRUST_DOMAIN: string;
  ZENMESH_SECRETS_DIR: string;
  REDIS_URL?: string | undefined;
  ZENMESH_REDIS_PREFIX?: string | undefined;
  ZENMESH_INSECURE_DISABLE_HMAC: boolean;
}

/**
 * Per-message HMAC + replay protection for every server and channel of this process (DESIGN.md): built from
 * `messageIntegrityEnv` and installed as the process default. The CA calls this alone (it has no workload
 * identity); every other service gets it through `startMeshRuntime`.
 */
export async function startMessageIntegrity(
  env: MessageIntegrityEnv,
  logger: Logger,
): Promise<RunningMessageIntegrity> {
  const integrity = await createMessageIntegrity({
    secretsDir: env.ZENMESH_SECRETS_DIR,
    cluster: env.ZENMESH_TRUST_DOMAIN,
    redisUrl: env.REDIS_URL,
    redisPrefix: env.ZENMESH_REDIS_PREFIX,
    insecureSkipVerify: env.ZENMESH_INSECURE_DISABLE_HMAC,
    logger,
  });
  useMessageIntegrity(integrity);
  return integrity;
}

/** What a service's main.ts wires into its servers and channels, and closes last in `stop`. */
export interface MeshRuntime {
  readonly integrity: RunningMessageIntegrity;
  /** The started identity (agent or PEM files). */
  readonly id: ServiceIdentity;
  /** `id.provider`: the certificate source of servers and channels. */
  readonly identity: IdentityProvider;
  /** To spread into `createMeshServer` / `createMeshChannel` options. */
  readonly mesh: { identity: IdentityProvider; trustDomain: string; namespace: string };
  /** Tell the CA where this workload serves gRPC (it probes canaries there during a CA rotation). */
  setServingAddress(address: string): void;
  /** Stops the identity, then closes the integrity (its nonce store), in that order. */
  close(): Promise<void>;
}

/**
 * The runtime wiring every mesh service but the CA shares: message integrity first (the workload agent's own
 * calls to the CA are signed), then the identity from `meshIdentityEnv`, whose per-call peer guard and
 * connection age become the process defaults of every server and channel.
 */
export async function startMeshRuntime(
  service: string,
  env: MeshIdentityEnv & MessageIntegrityEnv,
  logger: Logger,
): Promise<MeshRuntime> {
  const integrity = await startMessageIntegrity(env, logger);
  let id: ServiceIdentity;
  try {
    id = await startMeshIdentity(service, env, logger);
  } catch (err) {
    await integrity.close();
    throw err;
  }
  useMeshDefaults({ verifyPeer: id.verifyPeer, maxConnectionAgeMs: id.connectionAgeMs });
  return {
    integrity,
    id,
    identity: id.provider,
    mesh: { identity: id.provider, trustDomain: env.ZENMESH_TRUST_DOMAIN, namespace: env.ZENMESH_NAMESPACE },
    setServingAddress: (address) => id.setServingAddress(address),
    async close() {
      id.stop();
      await integrity.close();
    },
  };
}
