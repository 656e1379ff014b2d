import { EgressService, EventService, Health, SourceService } from '@zenmesh/proto';
import { openSharedRedis, runService, startMeshRuntime } from '@zenmesh/runtime';
import { ingesterEnv } from './config.js';
import { createIngester } from './ingester-app.js';
import { createPeerHealth } from './peer-health.js';

runService('ingester', ingesterEnv, async ({ env, logger, meter, observeHttp, defer }) => {
  const runtime = await startMeshRuntime('ingester', env, logger, meter);
  defer(() => runtime.close());
  // Deduplication and rate limits are shared through Redis across ingester instances when it is configured;
  // a short command timeout keeps a slow Redis from holding webhooks (the backend's unique constraint still
  // decides duplicates then).
  const redis = openSharedRedis(env.REDIS_URL, defer);
  const backend = runtime.channel('backend', env.ZENMESH_BACKEND_ADDR);
  defer(() => backend.close());
  const egress = runtime.channel('egress', env.ZENMESH_EGRESS_ADDR);
  defer(() => egress.close());
  const ingester = createIngester({
    sources: backend.client(SourceService),
    events: backend.client(EventService),
    egress: egress.client(EgressService),
    logger,
    maxBodyBytes: env.ZENMESH_INGEST_MAX_BODY,
    redis,
    keyPrefix: `${env.ZENMESH_REDIS_PREFIX ?? 'zenmesh:'}ingest:`,
    rateLimit: { perSecond: env.ZENMESH_INGEST_RATE_LIMIT, burst: env.ZENMESH_INGEST_RATE_BURST },
    ipRateLimit: { perSecond: env.ZENMESH_INGEST_IP_RATE_LIMIT, burst: env.ZENMESH_INGEST_IP_RATE_BURST },
    bodyDedupWindowMs: env.ZENMESH_INGEST_BODY_DEDUP_WINDOW_S * 1000,
    unknownSourceTtlMs: env.ZENMESH_INGEST_UNKNOWN_SOURCE_TTL_MS,
    trustedProxies: env.ZENMESH_INGEST_TRUSTED_PROXIES,
    requestTimeoutMs: env.ZENMESH_INGEST_REQUEST_TIMEOUT_MS,
    health: createPeerHealth([backend.client(Health), egress.client(Health)]),
    meter,
  });
  observeHttp(['/v1/webhooks/{sourceId}', '/healthz']);
  const url = await ingester.listen(env.ZENMESH_HTTP_LISTEN);
  defer(() => ingester.close());
  return { http: url };
});
