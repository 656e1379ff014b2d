import { DeliveryService, EgressService } from '@zenmesh/proto';
import { openSharedRedis, runService, startMeshRuntime } from '@zenmesh/runtime';
import { createRateLimiter } from '@zenmesh/shared-state';
import { egressEnv, targetOptions } from './config.js';
import { createDeliveryEngine } from './delivery-engine.js';
import { createDeliveryMetrics } from './delivery-metrics.js';
import { createEgressService } from './egress-service.js';

runService('egress', egressEnv, async ({ env, logger, meter, defer }) => {
  const runtime = await startMeshRuntime('egress', env, logger, meter);
  defer(() => runtime.close());
  const backend = runtime.channel('backend', env.ZENMESH_BACKEND_ADDR);
  defer(() => backend.close());
  // Endpoints' outbound throttles are token buckets in Redis when it is configured, shared by every egress;
  // if Redis fails, each egress falls back to its own bucket (the rate then holds per egress, not overall).
  const redis = openSharedRedis(env.REDIS_URL, defer);
  let redisFailing = false;
  const limiter = createRateLimiter({
    perSecond: 1,
    burst: 1,
    redis,
    prefix: env.ZENMESH_REDIS_PREFIX ?? 'zm:',
    onError: (err) => {
      if (!redisFailing) logger.warn({ err }, 'endpoint throttle: Redis failed; this egress counts alone');
      redisFailing = true;
    },
  });
  const engine = createDeliveryEngine({
    deliveries: backend.client(DeliveryService),
    logger,
    pollMs: env.ZENMESH_EGRESS_POLL_MS,
    concurrency: env.ZENMESH_EGRESS_CONCURRENCY,
    timeoutMs: env.ZENMESH_EGRESS_TIMEOUT_MS,
    ...targetOptions(env),
    metrics: createDeliveryMetrics(meter),
    limiter,
    ...(env.ZENMESH_EGRESS_ENDPOINT_SHARE === undefined
      ? {}
      : { endpointShare: env.ZENMESH_EGRESS_ENDPOINT_SHARE }),
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
