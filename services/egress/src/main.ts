import { DeliveryService, EgressService } from '@zenmesh/proto';
import { runService, startMeshRuntime } from '@zenmesh/runtime';
import { egressEnv, targetOptions } from './config.js';
import { createDeliveryEngine } from './delivery-engine.js';
import { createDeliveryMetrics } from './delivery-metrics.js';
import { createEgressService } from './egress-service.js';

runService('egress', egressEnv, async ({ env, logger, meter, defer }) => {
  const runtime = await startMeshRuntime('egress', env, logger, meter);
  defer(() => runtime.close());
  const backend = runtime.channel('backend', env.ZENMESH_BACKEND_ADDR);
  defer(() => backend.close());
  const engine = createDeliveryEngine({
    deliveries: backend.client(DeliveryService),
    logger,
    pollMs: env.ZENMESH_EGRESS_POLL_MS,
    concurrency: env.ZENMESH_EGRESS_CONCURRENCY,
    timeoutMs: env.ZENMESH_EGRESS_TIMEOUT_MS,
    ...targetOptions(env),
    metrics: createDeliveryMetrics(meter),
  });
  const server = runtime.server({ logger });
  server.register(EgressService, createEgressService(engine));
  const { address } = await server.listen(env.ZENMESH_GRPC_LISTEN);
  defer(() => server.shutdown({ graceMs: 5_000 }));
  engine.start();
  // The engine stops first: no new attempts while the server drains.
  defer(() => engine.stop());
  runtime.setServingAddress(address);
  return { grpc: address };
});
