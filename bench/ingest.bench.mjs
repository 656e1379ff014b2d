// Ingestion: accepted webhooks per second and ack latency (POST sent → 202 received) with the ingester as
// its own process: `zenmesh up` (real Postgres in a fresh database, real Redis when REDIS_URL is set, mTLS +
// HMAC + nonce on every internal call). Each webhook is a 1 KiB GitHub `pull_request` delivery with a unique
// X-GitHub-Delivery: signature verified over the raw bytes, rate-limit bucket and dedup claim in Redis,
// RecordEvent committed in Postgres, then 202. The tenant has no endpoint, so nothing fans out and no
// Dispatch is sent: what is measured is the ack path a provider waits on. Then a paced (open-loop) run at
// half of the saturated rate for its ack p99. Loopback, bounded.
import { createHmac } from 'node:crypto';
import { loadavg } from 'node:os';
import { createScratchDatabase } from '@zenmesh/db';
import { Agent, request } from 'undici';
import { startMesh } from './lib/delivery-parts.mjs';
import { analyzeDatabase, cpuSnapshot, rssOf } from './lib/mesh-probe.mjs';
import { percentile, progress, writeSection } from './lib/report.mjs';

const ADMIN_URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const REDIS_URL = process.env.REDIS_URL;
const TOTAL = Number(process.env.BENCH_INGEST_TOTAL ?? 6000);
const WARMUP = 300;
const CONCURRENCY = 32;
const HALF_PEAK_S = Number(process.env.BENCH_INGEST_HALF_PEAK_S ?? 20);
const SECRET = 'bench-github-secret';
const TITLE = 'x'.repeat(900);

/** A distinct body per delivery (identical bodies within the dedup window are one event) and its signature. */
function signed(id) {
  const body = JSON.stringify({ action: 'opened', number: 1, delivery: id, pull_request: { title: TITLE } });
  return { body, signature: `sha256=${createHmac('sha256', SECRET).update(body).digest('hex')}` };
}

/** POSTs webhook `tag-i`; resolves with its ack latency, or undefined when it was not accepted. */
async function post(url, agent, id, startedAt = performance.now()) {
  const { body, signature } = signed(id);
  const res = await request(url, {
    method: 'POST',
    dispatcher: agent,
    body,
    headers: {
      'content-type': 'application/json',
      'x-hub-signature-256': signature,
      'x-github-event': 'pull_request',
      'x-github-delivery': id,
    },
  });
  await res.body.dump();
  return res.statusCode === 202 ? performance.now() - startedAt : undefined;
}

async function saturated(url, count, tag) {
  const agent = new Agent({ connections: CONCURRENCY });
  const latencies = [];
  let next = 0;
  let refused = 0;
  const worker = async () => {
    while (next < count) {
      const ms = await post(url, agent, `${tag}-${next++}`);
      if (ms === undefined) refused++;
      else latencies.push(ms);
    }
  };
  const start = performance.now();
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  const seconds = (performance.now() - start) / 1000;
  await agent.close();
  return { latencies, refused, seconds };
}

/** Open loop: webhook i is due at i / rate; its latency counts from when it was due. */
async function paced(url, rate, seconds, tag) {
  const agent = new Agent({ connections: 256 });
  const total = Math.round(rate * seconds);
  const t0 = performance.now();
  const sends = [];
  for (let i = 0; i < total; i++) {
    const due = t0 + (i * 1000) / rate;
    const wait = due - performance.now();
    if (wait > 1) await new Promise((r) => setTimeout(r, wait));
    sends.push(post(url, agent, `${tag}-${i}`, due));
  }
  const all = await Promise.all(sends);
  await agent.close();
  return {
    latencies: all.filter((x) => x !== undefined),
    refused: all.filter((x) => x === undefined).length,
  };
}

const scratch = await createScratchDatabase(ADMIN_URL, 'zm_bench');
const database = new URL(scratch.url).pathname.slice(1);
let mesh;
try {
  progress(`starting the mesh (Redis ${REDIS_URL ? 'configured' : 'NOT configured'})`);
  mesh = await startMesh(scratch.url, { ZENMESH_REDIS_PREFIX: `zm:bench:${process.pid}:` });
  await mesh.cli('tenant', 'create', 'bench');
  const { source } = await mesh.cli(
    'source',
    'create',
    '--tenant',
    'bench',
    '--provider',
    'github',
    '--secret',
    SECRET,
  );
  const url = `${mesh.endpoints.ingester}/v1/webhooks/${source.id}`;

  progress(`warm-up ${WARMUP}`);
  await saturated(url, WARMUP, 'warm');
  await analyzeDatabase(scratch.url);
  progress(`saturated: ${TOTAL} webhooks, ${CONCURRENCY} in flight`);
  const cpu0 = cpuSnapshot(mesh.services, database);
  const sat = await saturated(url, TOTAL, 'run');
  const cpu1 = cpuSnapshot(mesh.services, database);
  const rate = sat.latencies.length / sat.seconds;
  const half = Math.max(1, Math.round(rate / 2));
  progress(`half peak: ${half}/s for ${HALF_PEAK_S} s (open loop)`);
  const slow = await paced(url, half, HALF_PEAK_S, 'half');
  const rss = rssOf(mesh.services);
  const p = (list, q) => percentile(list, q).toFixed(1);
  const perEvent = (name) => ((cpu1[name] - cpu0[name]) / TOTAL).toFixed(2);
  const summary = `ingest: ${rate.toFixed(0)} accepted/s saturated (ack p50 ${p(sat.latencies, 50)} ms, p99 ${p(sat.latencies, 99)} ms); at half peak ${half}/s ack p99 ${p(slow.latencies, 99)} ms`;
  console.log(summary);
  writeSection(
    'ingest',
    'Ingestion: accepted webhooks per second and ack latency',
    `
The ingester as its own process (\`zenmesh up\`, mTLS + HMAC + nonce on every internal call), the real Postgres
(fresh database, \`analyze\`d after the warm-up)${REDIS_URL ? ' and the real Redis (REDIS_URL set: nonces, dedup claims, rate-limit buckets)' : ', Redis NOT configured'}.
Each webhook is a 1 KiB GitHub \`pull_request\` delivery with a unique \`X-GitHub-Delivery\`: signature verified over
the raw bytes, rate-limit bucket taken, dedup claim and answer, \`RecordEvent\` committed in Postgres, then \`202\`.
Latency is from sending the POST (or, paced, from when it was due) to receiving the 202. No endpoint, so nothing
fans out. Load generator in the bench process on the same two cores.

| run | webhooks | accepted/s | ack p50 | ack p99 | refused |
|---|---|---|---|---|---|
| saturated, ${CONCURRENCY} in flight (after ${WARMUP} warm-up) | ${TOTAL} | ${rate.toFixed(0)} | ${p(sat.latencies, 50)} ms | ${p(sat.latencies, 99)} ms | ${sat.refused} |
| half of that peak, ${half}/s paced for ${HALF_PEAK_S} s (open loop) | ${slow.latencies.length + slow.refused} | ${half} | ${p(slow.latencies, 50)} ms | ${p(slow.latencies, 99)} ms | ${slow.refused} |

**${summary}.** CPU per accepted webhook in the saturated run: ingester ${perEvent('ingester')} ms, backend
${perEvent('backend')} ms, Postgres ${perEvent('postgres')} ms. RSS after the runs: ${Object.entries(rss)
      .map(([k, v]) => `${k} ${v.toFixed(0)} MiB`)
      .join(', ')}. Load average at the end: ${loadavg()
      .map((l) => l.toFixed(1))
      .join(' / ')} (the mesh, Postgres, Redis and the load generator share two cores).
`,
  );
} finally {
  await mesh?.stop();
  await scratch.drop();
}
