// The parts of the delivery bench: the customer endpoint, the senders, the plain forwarder and the mesh.
import { execFile, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Agent, request } from 'undici';
import { servicePids } from './mesh-probe.mjs';

const CLI = new URL('../../packages/cli/dist/bin.js', import.meta.url).pathname;
const run = promisify(execFile);

/** The customer endpoint: notes when each key arrives. */
export function startTarget() {
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

/**
 * Sends `keys` to `url` at `rate` per second whatever the answers (open loop); a key's start is its
 * scheduled time, so a slow mesh cannot hide its queue by slowing the sender down.
 */
export async function drivePaced(url, keys, sign, agent, rate) {
  const sentAt = new Map();
  const t0 = performance.now();
  const sends = [];
  for (let i = 0; i < keys.length; i++) {
    const due = t0 + (i * 1000) / rate;
    const wait = due - performance.now();
    if (wait > 1) await new Promise((r) => setTimeout(r, wait));
    const key = keys[i];
    sentAt.set(key, due);
    const body = JSON.stringify({ key });
    sends.push(
      request(url, {
        method: 'POST',
        dispatcher: agent,
        headers: { 'content-type': 'application/json', 'x-event-type': 'bench.event', ...sign(body) },
        body,
      }).then(async (res) => {
        await res.body.dump();
        if (res.statusCode !== 202) throw new Error(`${url} answered ${res.statusCode} for ${key}`);
      }),
    );
  }
  await Promise.all(sends);
  return sentAt;
}

/** Sends `keys` to `url` `concurrency` at a time; returns when each was sent. */
export async function drive(url, keys, sign, agent, concurrency) {
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

/** The ceiling: a plain forwarder with no TLS, no signature, no storage. */
export function startForwarder(targetUrl, connections) {
  const agent = new Agent({ connections });
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

/**
 * `zenmesh up` on free ports with a fresh state directory and database, plus `extraEnv` (the CLI calls
 * made through `cli` get it without NODE_OPTIONS); resolves when it is ready.
 */
export async function startMesh(databaseUrl, extraEnv) {
  const home = mkdtempSync(join(tmpdir(), 'zm-bench-'));
  const env = {
    ...process.env,
    ZENMESH_HOME: home,
    DATABASE_URL: databaseUrl,
    LOG_LEVEL: 'warn',
    // The benchmark measures throughput, not the per-source rate limit (100/s by default).
    ZENMESH_INGEST_RATE_LIMIT: '1000000',
    ZENMESH_INGEST_RATE_BURST: '1000000',
    // All the bench's traffic comes from one address: lift the per-IP budgets of the ingester and the bff.
    ZENMESH_INGEST_IP_RATE_LIMIT: '1000000',
    ZENMESH_INGEST_IP_RATE_BURST: '1000000',
    ZENMESH_BFF_IP_RATE_LIMIT: '1000000',
    ZENMESH_BFF_RATE_LIMIT: '1000000',
    ...extraEnv,
  };
  const { NODE_OPTIONS: _profileOnlyTheMesh, ...cliEnv } = env;
  const child = spawn(
    process.execPath,
    [CLI, 'up', '--ingester-port', '0', '--bff-port', '0', '--token-port', '0'],
    {
      env,
      stdio: ['ignore', 'ignore', 'pipe'],
    },
  );
  let stderr = '';
  child.stderr.on('data', (c) => {
    stderr += c;
  });
  const file = join(home, 'endpoints.json');
  const deadline = Date.now() + 90_000;
  while (!existsSync(file)) {
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`zenmesh up did not start:\n${stderr}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  const cli = async (...args) =>
    JSON.parse((await run(process.execPath, [CLI, ...args, '--json'], { env: cliEnv })).stdout);
  return {
    home,
    endpoints: JSON.parse(readFileSync(file, 'utf8')),
    services: servicePids(child.pid),
    cli,
    async stop() {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
      rmSync(home, { recursive: true, force: true });
    },
  };
}
