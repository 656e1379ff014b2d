import {
  hostPort,
  loadConfig,
  meshEnv,
  meshIdentityEnv,
  messageIntegrityEnv,
  positiveInt,
  runService,
  startMeshRuntime,
  z,
} from '@zenmesh/config';
import { EgressService, EventService, Health, SourceService } from '@zenmesh/proto';
import { createMeshChannel } from '@zenmesh/rpc';
import { Redis } from 'ioredis';
import { createIngester } from './ingester-app.js';
import { createPeerHealth } from './peer-health.js';

const env = z.object({
  ...meshEnv,
  ...meshIdentityEnv,
  ...messageIntegrityEnv,
  ZENMESH_HTTP_LISTEN: hostPort().default('127.0.0.1:8080'),
  ZENMESH_BACKEND_ADDR: hostPort(),
  ZENMESH_EGRESS_ADDR: hostPort(),
  ZENMESH_INGEST_MAX_BODY: positiveInt(1024 * 1024),
  ZENMESH_INGEST_RATE_LIMIT: positiveInt(100),
  ZENMESH_INGEST_RATE_BURST: positiveInt(200),
  // Comma-separated addresses/CIDRs of reverse proxies whose X-Forwarded-For is believed.
  ZENMESH_INGEST_TRUSTED_PROXIES: z.string().default(''),
  ZENMESH_INGEST_REQUEST_TIMEOUT_MS: positiveInt(30_000),
});

runService('ingester', async ({ logger }) => {
  const config = loadConfig(env);
  // Message integrity, then the workload agent (SVID from the CA, renewed at half-life, bundle + revocation
  // watches) whose per-call peer guard every server and channel of this process uses.
  const runtime = await startMeshRuntime('ingester', config, logger);
  const { mesh } = runtime;
  // Deduplication and rate limits are shared through Redis across ingester instances when it is configured;
  // a short command timeout keeps a slow Redis from holding webhooks (the backend's unique constraint still
  // decides duplicates then).
  const redis = config.REDIS_URL
    ? new Redis(config.REDIS_URL, { commandTimeout: 1000, maxRetriesPerRequest: 1 })
    : undefined;
  const backend = createMeshChannel({ ...mesh, address: config.ZENMESH_BACKEND_ADDR, peer: 'backend' });
  const egress = createMeshChannel({ ...mesh, address: config.ZENMESH_EGRESS_ADDR, peer: 'egress' });
  const ingester = createIngester({
    sources: backend.client(SourceService),
    events: backend.client(EventService),
    egress: egress.client(EgressService),
    logger,
    maxBodyBytes: config.ZENMESH_INGEST_MAX_BODY,
    redis,
    keyPrefix: `${config.ZENMESH_REDIS_PREFIX ?? 'zenmesh:'}ingest:`,
    rateLimit: { perSecond: config.ZENMESH_INGEST_RATE_LIMIT, burst: config.ZENMESH_INGEST_RATE_BURST },
    trustedProxies: config.ZENMESH_INGEST_TRUSTED_PROXIES.split(',')
      .map((s) => s.trim())
      .filter(Boolean),
    requestTimeoutMs: config.ZENMESH_INGEST_REQUEST_TIMEOUT_MS,
    health: createPeerHealth([backend.client(Health), egress.client(Health)]),
  });
  const url = await ingester.listen(config.ZENMESH_HTTP_LISTEN);
  return {
    ready: { http: url },
    async stop() {
      await ingester.close();
      backend.close();
      egress.close();
      await redis?.quit();
      await runtime.close();
    },
  };
});
