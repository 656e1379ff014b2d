// `pnpm soak`: a bounded soak of the whole mesh. Open-loop signed webhooks at a steady rate (default 95/s,
// half of the 190 events/s the delivery benchmark measured saturated) for a fixed time (default 600 s);
// every 30 s it prints the resident memory of each process and the delivery latency p99 of that window, so a
// leak or a creeping queue shows as a trend. Loopback only, in-flight capped, every loop bounded. Not part of
// `pnpm test`. ZENMESH_SOAK_SECONDS / ZENMESH_SOAK_RATE / ZENMESH_SOAK_INTERVAL_S change the shape.
import { createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { createScratchDatabase } from '@zenmesh/db';
import { Agent, request } from 'undici';
import { startMesh } from './lib/delivery-parts.mjs';
import { machine, percentile, progress } from './lib/report.mjs';

const SECONDS = Number(process.env.ZENMESH_SOAK_SECONDS ?? 600);
const RATE = Number(process.env.ZENMESH_SOAK_RATE ?? 95);
const INTERVAL_S = Number(process.env.ZENMESH_SOAK_INTERVAL_S ?? 30);
const MAX_IN_FLIGHT = 64;
const SECRET = 'soak-source-secret';
const ADMIN_URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

const rssMiB = (pid) => {
  try {
    const kb = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
    return kb ? Number(kb) / 1024 : 0;
  } catch {
    return 0;
  }
};

const sentAt = new Map();
const window = { latencies: [], sent: 0, delivered: 0, refused: 0 };
const target = createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    const { key } = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    const t = sentAt.get(key);
    if (t !== undefined) {
      window.latencies.push(performance.now() - t);
      window.delivered += 1;
      sentAt.delete(key);
    }
    res.writeHead(204).end();
  });
});
await new Promise((r) => target.listen(0, '127.0.0.1', r));

const scratch = await createScratchDatabase(ADMIN_URL, 'zm_soak');
let mesh;
try {
  progress(`soak: ${RATE}/s for ${SECONDS} s on ${machine()}`);
  mesh = await startMesh(scratch.url);
  await mesh.cli('tenant', 'create', 'soak');
  const { source } = await mesh.cli(
    'source',
    'create',
    '--tenant',
    'soak',
    '--provider',
    'generic',
    '--secret',
    SECRET,
  );
  await mesh.cli(
    'endpoint',
    'create',
    '--tenant',
    'soak',
    '--url',
    `http://127.0.0.1:${target.address().port}/hook`,
  );
  const url = `${mesh.endpoints.ingester}/v1/webhooks/${source.id}`;
  const agent = new Agent({ connections: MAX_IN_FLIGHT });
  let inFlight = 0;
  let n = 0;
  const send = async () => {
    const key = `soak-${n++}`;
    const body = JSON.stringify({ key });
    // Generic sources sign `<timestamp>.<body>` by default (the timestamp in X-Timestamp).
    const ts = String(Math.floor(Date.now() / 1000));
    const signature = `sha256=${createHmac('sha256', SECRET).update(`${ts}.${body}`).digest('hex')}`;
    inFlight += 1;
    sentAt.set(key, performance.now());
    try {
      const res = await request(url, {
        method: 'POST',
        dispatcher: agent,
        headers: {
          'content-type': 'application/json',
          'x-event-type': 'soak.event',
          'x-signature': signature,
          'x-timestamp': ts,
        },
        body,
      });
      await res.body.dump();
      if (res.statusCode === 202) window.sent += 1;
      else {
        window.refused += 1;
        sentAt.delete(key);
      }
    } catch {
      window.refused += 1;
      sentAt.delete(key);
    } finally {
      inFlight -= 1;
    }
  };
  const rows = [];
  const start = performance.now();
  let nextReport = INTERVAL_S * 1000;
  console.log('  t (s) | sent/s | delivered/s | refused | p99 ms | RSS MiB total | per process');
  while (performance.now() - start < SECONDS * 1000) {
    const elapsed = performance.now() - start;
    const due = Math.floor((elapsed / 1000) * RATE) - n;
    for (let i = 0; i < due && inFlight < MAX_IN_FLIGHT; i++) void send();
    if (elapsed >= nextReport) {
      const pids = JSON.parse(readFileSync(`${mesh.home}/endpoints.json`, 'utf8')).pids;
      const per = Object.entries(pids).map(([name, pid]) => [name, rssMiB(pid)]);
      const total = per.reduce((s, [, v]) => s + v, 0);
      const row = {
        t: Math.round(elapsed / 1000),
        sentPerS: window.sent / INTERVAL_S,
        deliveredPerS: window.delivered / INTERVAL_S,
        refused: window.refused,
        p99: percentile(window.latencies, 99),
        rss: total,
      };
      rows.push(row);
      console.log(
        `  ${String(row.t).padStart(5)} | ${row.sentPerS.toFixed(1).padStart(6)} | ${row.deliveredPerS.toFixed(1).padStart(11)} | ${String(row.refused).padStart(7)} | ${row.p99.toFixed(0).padStart(6)} | ${total.toFixed(0).padStart(13)} | ${per.map(([k, v]) => `${k} ${v.toFixed(0)}`).join(', ')}`,
      );
      Object.assign(window, { latencies: [], sent: 0, delivered: 0, refused: 0 });
      nextReport += INTERVAL_S * 1000;
    }
    await new Promise((r) => setTimeout(r, 10));
  }
  const drainDeadline = Date.now() + 60_000;
  while (sentAt.size > 0 && Date.now() < drainDeadline) await new Promise((r) => setTimeout(r, 200));
  const first = rows[0];
  const last = rows.at(-1);
  console.log(
    `soak done: ${n} sent, ${sentAt.size} not delivered after a 60 s drain; RSS ${first?.rss.toFixed(0)} → ${last?.rss.toFixed(0)} MiB, p99 ${first?.p99.toFixed(0)} → ${last?.p99.toFixed(0)} ms`,
  );
  process.exitCode = sentAt.size === 0 ? 0 : 1;
  await agent.close();
} finally {
  await mesh?.stop();
  target.closeAllConnections();
  target.close();
  await scratch.drop();
}
