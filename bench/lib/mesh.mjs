// `zenmesh up` for the benchmarks and the soak: its own process, free ports, a fresh state directory.
import { execFile, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const CLI = new URL('../../packages/cli/dist/bin.js', import.meta.url).pathname;
const run = promisify(execFile);

/** `zenmesh up` on free ports with a fresh state directory and database; resolves when it is ready. */
export async function startMesh(databaseUrl) {
  const home = mkdtempSync(join(tmpdir(), 'zm-bench-'));
  const env = {
    ...process.env,
    ZENMESH_HOME: home,
    DATABASE_URL: databaseUrl,
    LOG_LEVEL: 'warn',
    // The benchmark measures throughput, not the per-source rate limit (100/s by default).
    ZENMESH_INGEST_RATE_LIMIT: '1000000',
    ZENMESH_INGEST_RATE_BURST: '1000000',
  };
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
    JSON.parse((await run(process.execPath, [CLI, ...args, '--json'], { env })).stdout);
  return {
    home,
    endpoints: JSON.parse(readFileSync(file, 'utf8')),
    cli,
    async stop() {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
      rmSync(home, { recursive: true, force: true });
    },
  };
}
