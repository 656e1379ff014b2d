import { grpcServerEnv, hostPort, loadConfig, meshEnv, positiveInt, runService, z } from '@zenmesh/config';
import { DeliveryService, EgressService } from '@zenmesh/proto';
import { createMeshChannel, createMeshServer, loadTlsIdentity } from '@zenmesh/rpc';
import { createDeliveryEngine } from './delivery-engine.js';
import { createEgressService } from './egress-service.js';

const env = z.object({
  ...meshEnv,
  ...grpcServerEnv,
  ZENMESH_BACKEND_ADDR: hostPort(),
  ZENMESH_EGRESS_POLL_MS: positiveInt(1000),
  ZENMESH_EGRESS_CONCURRENCY: positiveInt(32),
  ZENMESH_EGRESS_TIMEOUT_MS: positiveInt(15_000),
});

runService('egress', async ({ logger }) => {
  const config = loadConfig(env);
  const identity = loadTlsIdentity({
    cert: config.ZENMESH_TLS_CERT,
    key: config.ZENMESH_TLS_KEY,
    ca: config.ZENMESH_TLS_CA,
  });
  const mesh = { identity, trustDomain: config.ZENMESH_TRUST_DOMAIN, namespace: config.ZENMESH_NAMESPACE };
  const backend = createMeshChannel({ ...mesh, address: config.ZENMESH_BACKEND_ADDR, peer: 'backend' });
  const engine = createDeliveryEngine({
    deliveries: backend.client(DeliveryService),
    logger,
    pollMs: config.ZENMESH_EGRESS_POLL_MS,
    concurrency: config.ZENMESH_EGRESS_CONCURRENCY,
    timeoutMs: config.ZENMESH_EGRESS_TIMEOUT_MS,
  });
  const server = createMeshServer({ ...mesh, service: 'egress', logger });
  server.register(EgressService, createEgressService(engine));
  const { address } = await server.listen(config.ZENMESH_GRPC_LISTEN);
  engine.start();
  return {
    ready: { grpc: address },
    async stop() {
      await engine.stop();
      await server.shutdown({ graceMs: 5_000 });
      backend.close();
    },
  };
});
