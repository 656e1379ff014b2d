// Delivery end to end through the whole mesh: `zenmesh up` (six processes, mTLS between them, real
// Postgres in a fresh database) receives signed webhooks at the ingester, stores them, fans them out,
// and egress delivers each one signed per Standard Webhooks to a local target. Reported: events/s end to
// end (first POST sent → last delivery received) and delivery latency p50/p99 (POST sent → target
// received). Beside it, in the same run, a plain Node HTTP forwarder (receive, POST to the target, answer)
// as the no-security ceiling. Loopback only, bounded: WARMUP + TOTAL webhooks, CONCURRENCY at a time.
import { createHmac } from 'node:crypto';
import { createServer } from 'node:http';
import { createScratchDatabase } from '@zenmesh/db';
import { Agent, request } from 'undici';
import { startMesh } from './lib/mesh.mjs';
import { percentile, progress, writeSection } from './lib/report.mjs';

const ADMIN_URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const TOTAL = 2000;
const WARMUP = 200;
const CONCURRENCY = 32;
/** A second, light run: latency without a queue in front of egress. */
const LIGHT = { total: 400, concurrency: 2, warmup: 20 };
const SECRET = 'bench-source-secret';

/** The customer endpoint: notes when each key arrives. */
function startTarget() {
  const arrived = new Map();
  const waiters = [];
  const server = createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const { key } = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      if (!arrived.has(key)) arrived.set(key, performance.now());
      res.writeHead(204).end();
      for (const w of waiters.splice(0)) w();
    });
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () =>
      resolve({
        url: `http://127.0.0.1:${server.address().port}/hook`,
        arrived,
        /** Bounded wait until every key is in. */
        async waitAll(keys, timeoutMs = 60_000) {
          const deadline = Date.now() + timeoutMs;
          while (keys.some((k) => !arrived.has(k))) {
            if (Date.now() > deadline)
              throw new Error(`only ${keys.filter((k) => arrived.has(k)).length}/${keys.length} delivered`);
            await new Promise((r) => {
              waiters.push(r);
              setTimeout(r, 200);
            });
          }
        },
        close: () => {
          server.closeAllConnections();
          return new Promise((r) => server.close(r));
        },
      }),
    ),
  );
}

/** Sends `keys` to `url` `concurrency` at a time; returns when each was sent. */
async function drive(url, keys, sign, agent, concurrency = CONCURRENCY) {
  const sentAt = new Map();
  let next = 0;
  const worker = async () => {
    while (next < keys.length) {
      const key = keys[next++];
      const body = JSON.stringify({ key });
      sentAt.set(key, performance.now());
      const res = await request(url, {
        method: 'POST',
        dispatcher: agent,
        headers: { 'content-type': 'application/json', 'x-event-type': 'bench.event', ...sign(body) },
        body,
      });
      await res.body.dump();
      if (res.statusCode !== 202) throw new Error(`${url} answered ${res.statusCode} for ${key}`);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return sentAt;
}

async function measure(
  name,
  url,
  sign,
  target,
  { total = TOTAL, concurrency = CONCURRENCY, warmup = WARMUP } = {},
) {
  const agent = new Agent({ connections: concurrency });
  const warm = Array.from({ length: warmup }, (_, i) => `${name}-warm-${i}`);
  await drive(url, warm, sign, agent, concurrency);
  await target.waitAll(warm);
  const keys = Array.from({ length: total }, (_, i) => `${name}-${i}`);
  const t0 = performance.now();
  const sentAt = await drive(url, keys, sign, agent, concurrency);
  progress(`${name}: all ${total} accepted in ${(performance.now() - t0).toFixed(0)} ms`);
  await target.waitAll(keys, 90_000);
  const t1 = Math.max(...keys.map((k) => target.arrived.get(k)));
  await agent.close();
  const latency = keys.map((k) => target.arrived.get(k) - sentAt.get(k));
  return {
    eps: total / ((t1 - t0) / 1000),
    p50: percentile(latency, 50),
    p99: percentile(latency, 99),
  };
}

/** The ceiling: a plain forwarder with no TLS, no signature, no storage. */
function startForwarder(targetUrl) {
  const agent = new Agent({ connections: CONCURRENCY });
  const server = createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', async () => {
      const r = await request(targetUrl, {
        method: 'POST',
        dispatcher: agent,
        headers: { 'content-type': 'application/json' },
        body: Buffer.concat(chunks),
      });
      await r.body.dump();
      res.writeHead(202).end();
    });
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () =>
      resolve({
        url: `http://127.0.0.1:${server.address().port}/`,
        close: async () => {
          server.closeAllConnections();
          await new Promise((r) => server.close(r));
          await agent.close();
        },
      }),
    ),
  );
}

const scratch = await createScratchDatabase(ADMIN_URL, 'zm_bench');
const target = await startTarget();
let mesh;
let forwarder;
try {
  progress('starting the mesh');
  mesh = await startMesh(scratch.url);
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
  const sign = (body) => ({
    'x-signature': `sha256=${createHmac('sha256', SECRET).update(body).digest('hex')}`,
  });

  progress(`mesh: ${WARMUP} warm-up + ${TOTAL} webhooks, ${CONCURRENCY} at a time`);
  const meshResult = await measure('mesh', ingestUrl, sign, target);
  progress(`mesh, light load: ${LIGHT.total} webhooks, ${LIGHT.concurrency} at a time`);
  const meshLight = await measure('mesh-light', ingestUrl, sign, target, LIGHT);
  forwarder = await startForwarder(target.url);
  progress(`plain forwarder: ${WARMUP} warm-up + ${TOTAL} requests`);
  const plain = await measure('plain', forwarder.url, () => ({}), target);
  const plainLight = await measure('plain-light', forwarder.url, () => ({}), target, LIGHT);

  const f = (n) => n.toFixed(1);
  const ratio = plain.eps / meshResult.eps;
  const table = `| path | events/s end to end | delivery latency p50 | p99 |
|---|---|---|---|
| Zen Mesh, ${CONCURRENCY} senders (saturated: latency includes the queue before egress) | ${meshResult.eps.toFixed(0)} | ${f(meshResult.p50)} ms | ${f(meshResult.p99)} ms |
| plain Node HTTP forwarder, ${CONCURRENCY} senders | ${plain.eps.toFixed(0)} | ${f(plain.p50)} ms | ${f(plain.p99)} ms |
| Zen Mesh, ${LIGHT.concurrency} senders (light load) | ${meshLight.eps.toFixed(0)} | ${f(meshLight.p50)} ms | ${f(meshLight.p99)} ms |
| plain Node HTTP forwarder, ${LIGHT.concurrency} senders | ${plainLight.eps.toFixed(0)} | ${f(plainLight.p50)} ms | ${f(plainLight.p99)} ms |

Zen Mesh is ingester → backend (Postgres) → egress → target, mutual TLS between the services, the
provider signature verified and each delivery signed per Standard Webhooks; the forwarder has no TLS, no
signature and stores nothing. Saturated, the plain forwarder moves **${ratio.toFixed(1)}×** the events per
second of the whole mesh: the price of verifying the provider signature, the mutual-TLS gRPC hops
(RecordEvent, Dispatch, LeaseDeliveries, ReportAttempt), committing the event and its delivery in Postgres
before answering 202, leasing it back out, signing it and recording the attempt — all on the same two
cores as Postgres and the load generator. ${TOTAL} events
after ${WARMUP} warm-up, ${CONCURRENCY} senders, one endpoint (per-endpoint limit 20 in flight, egress 32),
\`zenmesh up\` with DATABASE_URL (real Postgres), Redis not configured.`;
  console.log(table);
  writeSection('delivery', 'Delivery end to end (bench/delivery.bench.mjs)', table);
} finally {
  await forwarder?.close();
  await mesh?.stop();
  await target.close();
  await scratch.drop();
}
