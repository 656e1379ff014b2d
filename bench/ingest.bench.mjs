// Ingestion: accepted webhooks per second and ack latency (POST sent → 202 received) of one in-process
// ingester over the real path: GitHub signature verified on the raw bytes, rate limit (one bucket for
// the source, sized not to refuse), dedup claim and answer in the real Redis, RecordEvent over gRPC with
// mTLS to the real backend, committed in the real Postgres (fresh database). Egress is not running (the
// nudge is a no-op), so what is measured is the ack path a provider waits on. Loopback, bounded.
import { createHmac, randomBytes } from 'node:crypto';
import { loadavg } from 'node:os';
import { createDatabase, createScratchDatabase } from '@zenmesh/db';
import { createCertificateAuthority, issueSvidWithKey, spiffeIdFor } from '@zenmesh/pki';
import { EventService, SourceService } from '@zenmesh/proto';
import { createMeshChannel, createMeshServer } from '@zenmesh/rpc';
import { Redis } from 'ioredis';
import { percentile, progress, writeSection } from './lib/report.mjs';

const { createBackend, createTenant, createSource, createSecretBoxes } = await import(
  '../services/backend/dist/index.js'
);
const { createIngester } = await import('../services/ingester/dist/index.js');

const ADMIN_URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const TOTAL = 4000;
const WARMUP = 300;
const CONCURRENCY = 32;
const TD = 'zenmesh.local';
const silent = {
  trace() {},
  debug() {},
  info() {},
  warn() {},
  error() {},
  fatal() {},
  child: () => silent,
  level: 'silent',
};

const ca = await createCertificateAuthority({ trustDomain: TD });
const identity = async (service) => {
  const svid = await issueSvidWithKey({
    ca,
    spiffeId: spiffeIdFor(service, { trustDomain: TD, namespace: 'zenmesh' }),
  });
  return { cert: svid.certPem, key: svid.keyPem, ca: ca.certPem };
};
const scratch = await createScratchDatabase(ADMIN_URL);
const db = await createDatabase({ url: scratch.url });
const masterKey = randomBytes(32);
const backend = createBackend({ db, masterKey });
await backend.migrate();
const server = createMeshServer({
  integrity: false,
  service: 'backend',
  identity: await identity('backend'),
  trustDomain: TD,
  namespace: 'zenmesh',
  logger: silent,
});
backend.register({
  register: (service, impl) => {
    if (service.typeName === SourceService.typeName || service.typeName === EventService.typeName)
      server.register(service, impl);
  },
});
const { address } = await server.listen('127.0.0.1:0');
const channel = createMeshChannel({
  integrity: false,
  address,
  identity: await identity('ingester'),
  peer: 'backend',
  trustDomain: TD,
  namespace: 'zenmesh',
});
const redis = new Redis(REDIS_URL);
const prefix = `zm:bench:ingest:${randomBytes(4).toString('hex')}:`;
const ingester = createIngester({
  sources: channel.client(SourceService),
  events: channel.client(EventService),
  egress: { dispatch: async () => ({}) },
  logger: silent,
  redis,
  keyPrefix: prefix,
  rateLimit: { perSecond: 1_000_000, burst: 1_000_000 },
  // Every request comes from 127.0.0.1: the per-IP budget would be the only thing measured.
  ipRateLimit: { perSecond: 1_000_000, burst: 1_000_000 },
});
const base = await ingester.listen('127.0.0.1:0');

const tenant = await createTenant(db, `bench-${randomBytes(3).toString('hex')}`);
const SECRET = 'bench-github-secret';
const source = await createSource(db, createSecretBoxes(masterKey), {
  tenant: tenant.id,
  provider: 'generic',
  name: '',
  secret: SECRET,
});
// CreateSource takes only `generic` today; the bench source is a GitHub one, set on the row.
await db.query(`update core.sources set provider = 'github' where id = $1`, [source.id]);
// A distinct body per webhook: GitHub signs no delivery id, so equal bytes would be answered as duplicates.
const bodyOf = (n) =>
  JSON.stringify({ action: 'opened', number: n, pull_request: { title: 'x'.repeat(900) } });
const signatureOf = (body) => `sha256=${createHmac('sha256', SECRET).update(body).digest('hex')}`;
const url = `${base}/v1/webhooks/${source.id}`;

async function run(count, tag) {
  const latencies = [];
  let next = 0;
  let failed = 0;
  const worker = async () => {
    while (next < count) {
      const i = next++;
      const body = bodyOf(`${tag}-${i}`);
      const t0 = performance.now();
      const res = await fetch(url, {
        method: 'POST',
        body,
        headers: {
          'content-type': 'application/json',
          'x-hub-signature-256': signatureOf(body),
          'x-github-event': 'pull_request',
          'x-github-delivery': `${tag}-${i}`,
        },
      });
      await res.arrayBuffer();
      if (res.status === 202) latencies.push(performance.now() - t0);
      else failed++;
    }
  };
  const start = performance.now();
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  return { latencies, failed, seconds: (performance.now() - start) / 1000 };
}

progress(`warm-up ${WARMUP}`);
await run(WARMUP, 'warm');
progress(`measuring ${TOTAL} webhooks, ${CONCURRENCY} in flight`);
const cpu0 = process.cpuUsage();
const { latencies, failed, seconds } = await run(TOTAL, 'run');
const cpu = process.cpuUsage(cpu0);
const cpuShare = (cpu.user + cpu.system) / 1e6 / seconds;
const stored = (
  await db.query('select count(*)::int as n from core.events where source_id = $1', [source.id])
).rows[0].n;
const rate = latencies.length / seconds;
const p = (q) => percentile(latencies, q).toFixed(1);
progress(
  `cpu ${(cpuShare * 100).toFixed(0)}% of one core; ${rate.toFixed(0)}/s p50 ${p(50)} ms p99 ${p(99)} ms, failed ${failed}, stored ${stored}`,
);

writeSection(
  'ingest',
  'Ingestion: accepted webhooks per second and ack latency',
  `
One in-process ingester (\`createIngester\`) with the real backend (\`createBackend\`) over gRPC + mTLS, the real
Postgres (fresh database) and the real Redis, all on this machine. Each webhook is a 1 KiB GitHub
\`pull_request\` delivery with a unique \`X-GitHub-Delivery\`: signature verified over the raw bytes, rate-limit
bucket taken in Redis, dedup claim + answer in Redis, \`RecordEvent\` committed in Postgres, then \`202\`. Latency is
from sending the POST to receiving the 202 (the ack a provider waits for), with ${CONCURRENCY} requests in flight from
the same Node process (client cost is included). Egress is not running; no endpoints, so no deliveries fan out.

| webhooks | in flight | accepted/s | ack p50 | ack p99 | refused | events stored | CPU of the bench process |
|---|---|---|---|---|---|---|---|
| ${TOTAL} (after ${WARMUP} warm-up) | ${CONCURRENCY} | ${rate.toFixed(0)} | ${p(50)} ms | ${p(99)} ms | ${failed} | ${stored - WARMUP} | ${(cpuShare * 100).toFixed(0)} % of one core |

Client, ingester and backend share one Node thread, so the rate is bounded by that core (the CPU column);
Postgres and Redis run as their own processes. Machine load average at the end: ${loadavg()[0].toFixed(1)} (other work
was running on the machine).
`,
);

await ingester.close();
channel.close();
await server.shutdown({ graceMs: 1000 });
const keys = await redis.keys(`${prefix}*`);
if (keys.length > 0) await redis.del(...keys);
redis.disconnect();
await db.close();
await scratch.drop();
