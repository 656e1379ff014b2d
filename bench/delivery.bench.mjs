// Delivery end to end through the whole mesh: `zenmesh up` (six processes, mTLS between them, real
// Postgres in a fresh database) receives signed webhooks at the ingester, stores them, fans them out,
// and egress delivers each one signed per Standard Webhooks to a local target. Reported: events/s end to
// end (first POST sent → last delivery received) and delivery latency p50/p99 (POST sent → target
// received). Beside it, in the same run, a plain Node HTTP forwarder (receive, POST to the target, answer)
// as the no-security ceiling. Loopback only, bounded: WARMUP + TOTAL webhooks, CONCURRENCY at a time.
import { createHmac } from 'node:crypto';
import { loadavg } from 'node:os';
import { createScratchDatabase } from '@zenmesh/db';
import { Redis } from 'ioredis';
import { Agent } from 'undici';
import { drive, drivePaced, startForwarder, startMesh, startTarget } from './lib/delivery-parts.mjs';
import { analyzeDatabase, cpuSnapshot, nonceCount, rssOf, sqlCounters } from './lib/mesh-probe.mjs';
import { percentile, progress, writeSection } from './lib/report.mjs';

const ADMIN_URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const REDIS_URL = process.env.REDIS_URL;
/** Seconds of the paced run at half the saturated rate (latency there, and memory growth over it). */
const HALF_PEAK_S = Number(process.env.BENCH_HALF_PEAK_S ?? 180);
/** A directory: every service process runs with --cpu-prof into it (docs/performance.md). */
const CPU_PROF_DIR = process.env.BENCH_CPU_PROF;
const NONCE_PREFIX = `zm:bench:${process.pid}:nonce:`;
const TOTAL = Number(process.env.BENCH_DELIVERY_TOTAL ?? 4000);
const WARMUP = 300;
const CONCURRENCY = 32;
/** A second, light run: latency without a queue in front of egress. */
const LIGHT = { total: 400, concurrency: 2, warmup: 20 };
const SECRET = 'bench-source-secret';

async function measure(
  name,
  url,
  sign,
  target,
  { total = TOTAL, concurrency = CONCURRENCY, warmup = WARMUP, rate, around } = {},
) {
  const agent = new Agent({ connections: rate === undefined ? concurrency : 256 });
  const warm = Array.from({ length: warmup }, (_, i) => `${name}-warm-${i}`);
  await drive(url, warm, sign, agent, Math.min(concurrency, CONCURRENCY));
  await target.waitAll(warm);
  const keys = Array.from({ length: total }, (_, i) => `${name}-${i}`);
  const before = await around?.before();
  const t0 = performance.now();
  const sentAt =
    rate === undefined
      ? await drive(url, keys, sign, agent, concurrency)
      : await drivePaced(url, keys, sign, agent, rate);
  progress(`${name}: all ${total} accepted in ${(performance.now() - t0).toFixed(0)} ms`);
  // Bounded wait; a run the mesh could not keep up with is reported with its backlog, not hidden.
  let backlog = 0;
  try {
    await target.waitAll(keys, 90_000);
  } catch {
    backlog = keys.filter((k) => !target.arrived.has(k)).length;
    progress(`${name}: ${backlog} of ${total} not delivered 90 s after the last was accepted`);
  }
  const done = keys.filter((k) => target.arrived.has(k));
  const t1 = Math.max(...done.map((k) => target.arrived.get(k)));
  const probe = await around?.after(before, total);
  await agent.close();
  const latency = done.map((k) => target.arrived.get(k) - sentAt.get(k));
  if (rate !== undefined) {
    // Whether a queue grew: p50 / p99 of each tenth of the paced run, in sending order.
    const tenth = Math.ceil(latency.length / 10);
    const slices = Array.from({ length: 10 }, (_, i) => latency.slice(i * tenth, (i + 1) * tenth));
    progress(
      `${name}: latency p50/p99 by tenth of the run (ms): ${slices
        .filter((s) => s.length > 0)
        .map((s) => `${percentile(s, 50).toFixed(0)}/${percentile(s, 99).toFixed(0)}`)
        .join(' ')}`,
    );
  }
  return {
    eps: done.length / ((t1 - t0) / 1000),
    p50: percentile(latency, 50),
    p99: percentile(latency, 99),
    backlog,
    probe,
  };
}

const scratch = await createScratchDatabase(ADMIN_URL, 'zm_bench');
const database = new URL(scratch.url).pathname.slice(1);
const target = await startTarget();
const redis = REDIS_URL ? new Redis(REDIS_URL) : undefined;
const sql = await sqlCounters(ADMIN_URL, database);
let mesh;
let forwarder;
try {
  progress(`starting the mesh (Redis ${REDIS_URL ? 'configured' : 'NOT configured'})`);
  mesh = await startMesh(scratch.url, {
    ZENMESH_REDIS_PREFIX: NONCE_PREFIX,
    ...(CPU_PROF_DIR === undefined
      ? {}
      : {
          NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --cpu-prof --cpu-prof-dir=${CPU_PROF_DIR}`.trim(),
        }),
  });
  await mesh.cli('tenant', 'create', 'bench');
  const { source } = await mesh.cli(
    'source',
    'create',
    '--tenant',
    'bench',
    '--provider',
    'generic',
    '--secret',
    SECRET,
  );
  await mesh.cli('endpoint', 'create', '--tenant', 'bench', '--url', target.url);
  const ingestUrl = `${mesh.endpoints.ingester}/v1/webhooks/${source.id}`;
  // Generic sources sign `<timestamp>.<body>` by default (the timestamp in X-Timestamp, Unix seconds).
  const sign = (body) => {
    const ts = String(Math.floor(Date.now() / 1000));
    return {
      'x-timestamp': ts,
      'x-signature': `sha256=${createHmac('sha256', SECRET).update(`${ts}.${body}`).digest('hex')}`,
    };
  };
  // Around the saturated run: CPU of every process, SQL statements and commits, signed calls.
  const around = {
    async before() {
      await analyzeDatabase(scratch.url);
      await sql.reset();
      return {
        cpu: cpuSnapshot(mesh.services, database),
        calls: redis ? await nonceCount(redis, NONCE_PREFIX) : 0,
      };
    },
    async after(before, total) {
      const cpu = cpuSnapshot(mesh.services, database);
      const calls = redis ? await nonceCount(redis, NONCE_PREFIX) : Number.NaN;
      const counters = await sql.read();
      const cpuMs = Object.fromEntries(Object.keys(cpu).map((k) => [k, (cpu[k] - before.cpu[k]) / total]));
      const statements = counters.statements.reduce((n, s) => n + s.calls, 0);
      return {
        cpuMs,
        calls: (calls - before.calls) / total,
        statements: statements / total,
        commits: counters.commits / total,
        top: counters.statements.slice(0, 12),
      };
    },
  };

  progress(`mesh: ${WARMUP} warm-up + ${TOTAL} webhooks, ${CONCURRENCY} at a time`);
  const meshResult = await measure('mesh', ingestUrl, sign, target, { around });
  const rssSaturated = rssOf(mesh.services);
  const half = Math.max(1, Math.round(meshResult.eps / 2));
  const halfTotal = Math.min(200_000, Math.round(half * HALF_PEAK_S));
  progress(`mesh at half peak: ${half}/s for ${HALF_PEAK_S} s (${halfTotal} webhooks, open loop)`);
  const meshHalf = await measure('mesh-half', ingestUrl, sign, target, {
    total: halfTotal,
    rate: half,
    warmup: 0,
    around,
  });
  const rssHalf = rssOf(mesh.services);
  progress(`mesh, light load: ${LIGHT.total} webhooks, ${LIGHT.concurrency} at a time`);
  const meshLight = await measure('mesh-light', ingestUrl, sign, target, LIGHT);
  forwarder = await startForwarder(target.url, CONCURRENCY);
  progress(`plain forwarder: ${WARMUP} warm-up + ${TOTAL} requests`);
  const plain = await measure('plain', forwarder.url, () => ({}), target);
  const plainLight = await measure('plain-light', forwarder.url, () => ({}), target, LIGHT);

  const f = (n) => n.toFixed(1);
  const share = (100 * meshResult.eps) / plain.eps;
  const p = meshResult.probe;
  const cpuTotal = Object.values(p.cpuMs).reduce((a, b) => a + b, 0);
  const h = meshHalf.probe;
  const perEvent = (q) =>
    `CPU ${Object.entries(q.cpuMs)
      .filter(([, v]) => v >= 0.005)
      .map(([k, v]) => `${k} ${v.toFixed(2)} ms`)
      .join(', ')} (total ${Object.values(q.cpuMs)
      .reduce((a, b) => a + b, 0)
      .toFixed(
        2,
      )} ms); ${q.statements.toFixed(1)} SQL statements, ${q.commits.toFixed(2)} commits, ${Number.isNaN(q.calls) ? 'signed calls not counted (no Redis)' : `${q.calls.toFixed(2)} signed gRPC calls`}`;
  const summary = `delivery: ${meshResult.eps.toFixed(0)} events/s saturated = ${share.toFixed(1)} % of the plain forwarder (${plain.eps.toFixed(0)}/s, ratio ${(plain.eps / meshResult.eps).toFixed(1)}×); half peak ${half}/s p99 ${f(meshHalf.p99)} ms${meshHalf.backlog ? ` (not sustained: ${meshHalf.backlog} undelivered)` : ''}`;
  console.log(summary);
  const services = Object.keys(rssSaturated).sort();
  const table = `| path | events/s end to end | delivery latency p50 | p99 |
|---|---|---|---|
| Zen Mesh, ${CONCURRENCY} senders (saturated: latency includes the queue before egress) | ${meshResult.eps.toFixed(0)} | ${f(meshResult.p50)} ms | ${f(meshResult.p99)} ms |
| Zen Mesh at half that peak, ${half}/s paced for ${HALF_PEAK_S} s (open loop)${meshHalf.backlog ? ` — NOT sustained: ${meshHalf.backlog} of ${halfTotal} still undelivered 90 s after the run (latencies of the delivered ones)` : ''} | ${meshHalf.eps.toFixed(0)} | ${f(meshHalf.p50)} ms | ${f(meshHalf.p99)} ms |
| plain Node HTTP forwarder, ${CONCURRENCY} senders | ${plain.eps.toFixed(0)} | ${f(plain.p50)} ms | ${f(plain.p99)} ms |
| Zen Mesh, ${LIGHT.concurrency} senders (light load) | ${meshLight.eps.toFixed(0)} | ${f(meshLight.p50)} ms | ${f(meshLight.p99)} ms |
| plain Node HTTP forwarder, ${LIGHT.concurrency} senders | ${plainLight.eps.toFixed(0)} | ${f(plainLight.p50)} ms | ${f(plainLight.p99)} ms |

**${summary}.** Saturated, the mesh runs at **${share.toFixed(1)} %** of the plain forwarder measured in the same run.

Per delivered event in the saturated run: CPU ${Object.entries(p.cpuMs)
    .map(([k, v]) => `${k} ${v.toFixed(2)} ms`)
    .join(', ')} (total ${cpuTotal.toFixed(2)} ms;
Postgres = its backends for the bench database); ${p.statements.toFixed(1)} SQL statements and ${p.commits.toFixed(2)} commits
(pg_stat_statements, pg_stat_database); ${Number.isNaN(p.calls) ? 'signed calls not counted (no Redis)' : `${p.calls.toFixed(2)} signed gRPC calls (nonces claimed in Redis)`}.
Per delivered event in the paced half-peak run: ${perEvent(h)}.

| RSS MiB | ${services.join(' | ')} |
|---|${services.map(() => '---:').join('|')}|
| after the saturated run | ${services.map((s) => f(rssSaturated[s])).join(' | ')} |
| after ${HALF_PEAK_S} s more at half peak | ${services.map((s) => f(rssHalf[s])).join(' | ')} |

Zen Mesh is ingester → backend (Postgres) → egress → target, mutual TLS + HMAC + nonce on every internal call, the
provider signature verified, the event and its delivery committed before the 202, each delivery signed per
Standard Webhooks and its attempt recorded; the forwarder has no TLS, no signature and stores nothing. All on the
same two cores as Postgres, Redis and the load generator. The bench database is fresh and \`analyze\`d after each warm-up
(docs/performance.md). ${TOTAL} events after ${WARMUP} warm-up, ${CONCURRENCY}
senders, one endpoint (per-endpoint limit 20 in flight, egress 32), \`zenmesh up\` with DATABASE_URL (real Postgres)
${REDIS_URL ? 'and REDIS_URL (nonces, dedup and rate limits in the real Redis)' : 'and Redis NOT configured (in-process nonces)'}, LOG_LEVEL=warn.
Load average at the end: ${loadavg()
    .map((l) => l.toFixed(1))
    .join(' / ')} (the mesh, Postgres, Redis and the load generator share two cores; anything else running
raises it): compare ratios within this table rather than across runs.`;
  console.log(table);
  console.log(p.top.map((s) => `${(s.calls / TOTAL).toFixed(2)}/event ${s.ms} ms  ${s.query}`).join('\n'));
  console.log('half peak:');
  console.log(
    h.top.map((s) => `${(s.calls / halfTotal).toFixed(2)}/event ${s.ms} ms  ${s.query}`).join('\n'),
  );
  writeSection('delivery', 'Delivery end to end (bench/delivery.bench.mjs)', table);
} finally {
  await forwarder?.close();
  await mesh?.stop();
  await target.close();
  await sql.close();
  redis?.disconnect();
  await scratch.drop();
}
