import { readFileSync } from 'node:fs';
import {
  loadConfig,
  meshIdentityEnv,
  messageIntegrityEnv,
  runService,
  startMeshRuntime,
} from '@zenmesh/config';
import { DeliveryService, EgressService } from '@zenmesh/proto';
import { createMeshChannel, createMeshServer } from '@zenmesh/rpc';
import { egressEnv } from './config.js';
import { createDeliveryEngine } from './delivery-engine.js';
import { createEgressService } from './egress-service.js';

// The egress variables (SSRF allow-list, extra target roots) with the identity ones: the workload agent
// provides the certificate, so ZENMESH_TLS_CERT/_KEY are optional here.
const env = egressEnv.extend({ ...meshIdentityEnv, ...messageIntegrityEnv });

runService('egress', async ({ logger }) => {
  const config = loadConfig(env);
  // Message integrity, then the workload agent (SVID from the CA, renewed at half-life, bundle + revocation
  // watches) whose per-call peer guard every server and channel of this process uses.
  const runtime = await startMeshRuntime('egress', config, logger);
  const { mesh } = runtime;
  const backend = createMeshChannel({ ...mesh, address: config.ZENMESH_BACKEND_ADDR, peer: 'backend' });
  const engine = createDeliveryEngine({
    deliveries: backend.client(DeliveryService),
    logger,
    pollMs: config.ZENMESH_EGRESS_POLL_MS,
    concurrency: config.ZENMESH_EGRESS_CONCURRENCY,
    timeoutMs: config.ZENMESH_EGRESS_TIMEOUT_MS,
    targetPolicy: { allow: config.ZENMESH_EGRESS_ALLOW_CIDRS },
    ...(config.ZENMESH_EGRESS_TARGET_CA === undefined
      ? {}
      : { targetCa: readFileSync(config.ZENMESH_EGRESS_TARGET_CA, 'utf8') }),
  });
  const server = createMeshServer({ ...mesh, service: 'egress', logger });
  server.register(EgressService, createEgressService(engine));
  const { address } = await server.listen(config.ZENMESH_GRPC_LISTEN);
  engine.start();
  runtime.setServingAddress(address);
  return {
    ready: { grpc: address },
    async stop() {
      await engine.stop();
      await server.shutdown({ graceMs: 5_000 });
      backend.close();
      await runtime.close();
    },
  };
});
