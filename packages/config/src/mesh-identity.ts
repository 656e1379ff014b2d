import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { type ServiceIdentity, startServiceIdentity } from '@zenmesh/identity';
import type { Logger } from '@zenmesh/telemetry';
import { z } from 'zod';
import { ConfigError } from './errors.js';
import { hostPort, meshEnv } from './load-config.js';

/**
 * Identity variables of a mesh service. Normally the workload agent provides the certificate: the launcher
 * (or an operator) passes a one-time join token and the CA's two addresses, and `ZENMESH_TLS_CA` is the bundle
 * given out of band that authenticates the CA at join. Without a token, `ZENMESH_TLS_CERT`/`_KEY` are PEM
 * files someone else keeps current (followed on disk).
 */
export const meshIdentityEnv = {
  ZENMESH_TRUST_DOMAIN: meshEnv.ZENMESH_TRUST_DOMAIN,
  ZENMESH_NAMESPACE: meshEnv.ZENMESH_NAMESPACE,
  ZENMESH_TLS_CA: meshEnv.ZENMESH_TLS_CA,
  ZENMESH_TLS_CERT: z.string().min(1).optional(),
  ZENMESH_TLS_KEY: z.string().min(1).optional(),
  ZENMESH_JOIN_TOKEN: z.string().min(1).optional(),
  ZENMESH_CA_ADDR: hostPort().optional(),
  ZENMESH_CA_JOIN_ADDR: hostPort().optional(),
  /** Where the agent keeps its SVID (svid.pem, svid-key.pem, bundle.pem), so a restart can resume. */
  ZENMESH_SVID_DIR: z.string().min(1).optional(),
};

export interface MeshIdentityEnv {
  ZENMESH_TRUST_DOMAIN: string;
  ZENMESH_NAMESPACE: string;
  ZENMESH_TLS_CA: string;
  ZENMESH_TLS_CERT?: string | undefined;
  ZENMESH_TLS_KEY?: string | undefined;
  ZENMESH_JOIN_TOKEN?: string | undefined;
  ZENMESH_CA_ADDR?: string | undefined;
  ZENMESH_CA_JOIN_ADDR?: string | undefined;
  ZENMESH_SVID_DIR?: string | undefined;
}

/**
 * Starts the identity a service's main.ts wires into its servers and channels, from `meshIdentityEnv`:
 * the workload agent when `ZENMESH_JOIN_TOKEN` (or a resumable `ZENMESH_SVID_DIR`) and the CA addresses are
 * set, else the PEM files. Fails closed with one line naming what is missing. The join token is removed from
 * `process.env` once read, so nothing this process spawns inherits it.
 */
export async function startMeshIdentity(
  service: string,
  env: MeshIdentityEnv,
  logger: Logger,
): Promise<ServiceIdentity> {
  const common = {
    service,
    trustDomain: env.ZENMESH_TRUST_DOMAIN,
    namespace: env.ZENMESH_NAMESPACE,
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
