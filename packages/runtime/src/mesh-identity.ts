import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError, type MeshIdentityEnv } from '@zenmesh/config';
import { type ServiceIdentity, startServiceIdentity } from '@zenmesh/identity';
import type { MessageIntegrity } from '@zenmesh/rpc';
import type { Logger } from '@zenmesh/telemetry';

/**
 * Starts the identity a service's runtime wires into its servers and channels, from `meshIdentityEnv`:
 * the workload agent when `ZENMESH_JOIN_TOKEN` (or a resumable `ZENMESH_SVID_DIR`) and the CA addresses are
 * set, else the PEM files. Fails closed with one line naming what is missing. The join token is removed from
 * `process.env` once read, so nothing this process spawns inherits it.
 */
export async function startMeshIdentity(
  service: string,
  env: MeshIdentityEnv,
  integrity: MessageIntegrity | false,
  logger: Logger,
): Promise<ServiceIdentity> {
  const common = {
    service,
    trustDomain: env.ZENMESH_TRUST_DOMAIN,
    namespace: env.ZENMESH_NAMESPACE,
    integrity,
    logger,
  };
  delete process.env.ZENMESH_JOIN_TOKEN;
  if (env.ZENMESH_JOIN_TOKEN || (env.ZENMESH_SVID_DIR && env.ZENMESH_CA_ADDR)) {
    if (!env.ZENMESH_CA_ADDR)
      throw new ConfigError('ZENMESH_CA_ADDR: unset: the CA gRPC address is required');
    if (!env.ZENMESH_CA_JOIN_ADDR)
      throw new ConfigError('ZENMESH_CA_JOIN_ADDR: unset: the CA join listener address is required');
    let bundlePem: string;
    try {
      bundlePem = readFileSync(env.ZENMESH_TLS_CA, 'utf8');
    } catch (err) {
      throw new ConfigError(
        `ZENMESH_TLS_CA: invalid: cannot read ${env.ZENMESH_TLS_CA}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`,
      );
    }
    const dir = env.ZENMESH_SVID_DIR;
    return startServiceIdentity({
      ...common,
      agent: {
        caAddress: env.ZENMESH_CA_ADDR,
        caJoinAddress: env.ZENMESH_CA_JOIN_ADDR,
        bundlePem,
        ...(env.ZENMESH_JOIN_TOKEN ? { joinToken: env.ZENMESH_JOIN_TOKEN } : {}),
        ...(dir
          ? {
              files: {
                cert: join(dir, 'svid.pem'),
                key: join(dir, 'svid-key.pem'),
                bundle: join(dir, 'bundle.pem'),
              },
            }
          : {}),
      },
    });
  }
  if (!env.ZENMESH_TLS_CERT || !env.ZENMESH_TLS_KEY) {
    throw new ConfigError(
      'ZENMESH_JOIN_TOKEN: unset: give a join token with ZENMESH_CA_ADDR and ZENMESH_CA_JOIN_ADDR, or ZENMESH_TLS_CERT and ZENMESH_TLS_KEY',
    );
  }
  return startServiceIdentity({
    ...common,
    files: { cert: env.ZENMESH_TLS_CERT, key: env.ZENMESH_TLS_KEY, ca: env.ZENMESH_TLS_CA },
  });
}
