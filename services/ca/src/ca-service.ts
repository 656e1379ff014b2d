import { CaService } from '@zenmesh/proto';
import { createMeshServer, type IdentityProvider, type TlsIdentity } from '@zenmesh/rpc';
import type { Logger } from '@zenmesh/telemetry';
import { createCaServiceImpl } from './ca-grpc.js';
import { loadTrustBundle } from './trust-bundle.js';

export interface CaServiceOptions {
  logger: Logger;
  identity: TlsIdentity | IdentityProvider;
  trustDomain: string;
  namespace: string;
  /** host:port for gRPC; port 0 picks a free one. */
  grpcListen: string;
  /** Path of the PEM bundle (one or more CA certificates) served by GetTrustBundle. */
  bundlePath: string;
}

export interface RunningCaService {
  ready: { grpc: string };
  stop(): Promise<void>;
}

export async function startCaService(options: CaServiceOptions): Promise<RunningCaService> {
  const { logger } = options;
  // Read before listening: a missing or empty bundle stops startup instead of serving nothing.
  const bundle = loadTrustBundle(options.bundlePath);
  logger.info({ certificates: bundle.length }, 'trust bundle loaded');
  const server = createMeshServer({
    service: 'ca',
    identity: options.identity,
    trustDomain: options.trustDomain,
    namespace: options.namespace,
    logger,
  });
  server.register(CaService, createCaServiceImpl({ trustDomain: options.trustDomain, bundle: () => bundle }));
  const { address } = await server.listen(options.grpcListen);
  return {
    ready: { grpc: address },
    stop: () => server.shutdown({ graceMs: 10_000 }),
  };
}
