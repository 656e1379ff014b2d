import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
export const REPO = new URL('../..', import.meta.url).pathname;
export const CLI = join(REPO, 'packages/cli/dist/bin.js');

export interface MeshEndpoints {
  ingester: string;
  bff: string;
  token: string;
  grpc: Record<string, string>;
  /** Each service's scrape URL (`zenmesh up` turns metrics on, on loopback). */
  metrics: Record<string, string>;
  pid: number;
  pids: Record<string, number>;
  /** With `--replicas`: each replica's own addresses, by replica name (`ingester-1`, …). */
  replicas?: Record<string, { grpc?: string; http?: string }>;
}

export interface RunningMesh {
  home: string;
  endpoints: MeshEndpoints;
  process: ChildProcess;
  output: () => string;
  /** Runs `zenmesh <args> --json` against this mesh and parses stdout. */
  cli<T = unknown>(...args: string[]): Promise<T>;
  /** Runs the CLI without --json; resolves with exit code, stdout and stderr (never rejects). */
  cliRaw(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }>;
  /** cliRaw with extra environment variables for the CLI process. */
  cliRawEnv(
    env: NodeJS.ProcessEnv,
    ...args: string[]
  ): Promise<{ code: number; stdout: string; stderr: string }>;
  /** The current endpoints.json (pids change when the launcher restarts a service). */
  readEndpoints(): MeshEndpoints;
  /** SIGTERM and wait for a clean exit; resolves with the exit code. */
  stop(): Promise<number | null>;
}

/**
 * The edge budgets (ingester per IP and per source, bff per IP and per API key) lifted, for the whole-mesh
 * tests that drive continuous traffic from one address to prove something else (no failed call across a
 * rotation). The budgets themselves are tested where they are the point (ingester limits.test.ts,
 * bff-api-rate-limit.test.ts, token rate-limit.test.ts).
 */
export const UNLIMITED_EDGE: NodeJS.ProcessEnv = {
  ZENMESH_INGEST_RATE_LIMIT: '1000000',
  ZENMESH_INGEST_RATE_BURST: '1000000',
  ZENMESH_INGEST_IP_RATE_LIMIT: '1000000',
  ZENMESH_INGEST_IP_RATE_BURST: '1000000',
  ZENMESH_BFF_RATE_LIMIT: '1000000',
  ZENMESH_BFF_IP_RATE_LIMIT: '1000000',
};

/**
 * Starts `zenmesh up` as its own process on free ports, with a fresh state directory; `args` are added to
 * `up` (e.g. `--replicas ingester=2`).
 */
export async function startMesh(
  env: NodeJS.ProcessEnv = {},
  timeoutMs = 60_000,
  args: readonly string[] = [],
): Promise<RunningMesh> {
  const home = mkdtempSync(join(tmpdir(), 'zm-mesh-'));
  // Each mesh its own Redis namespace unless the test names one: meshes of test files running in parallel
  // must not share rate-limit buckets (the token service's login budget per IP), nonces or dedup claims.
  const prefix = env.ZENMESH_REDIS_PREFIX ?? `zm-test-${randomBytes(6).toString('hex')}:`;
  const childEnv = {
    ...process.env,
    ...env,
    ZENMESH_HOME: home,
    ZENMESH_REDIS_PREFIX: prefix,
    LOG_LEVEL: env.LOG_LEVEL ?? 'info',
  };
  const child = spawn(
    process.execPath,
    [CLI, 'up', '--ingester-port', '0', '--bff-port', '0', '--token-port', '0', ...args],
    {
      env: childEnv,
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let output = '';
  child.stdout?.on('data', (c: Buffer) => {
    output += c.toString();
  });
  child.stderr?.on('data', (c: Buffer) => {
    output += c.toString();
  });
  const file = join(home, 'endpoints.json');
  const deadline = Date.now() + timeoutMs;
  while (!existsSync(file)) {
    if (child.exitCode !== null) throw new Error(`zenmesh up exited with ${child.exitCode}:\n${output}`);
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`zenmesh up not ready in ${timeoutMs} ms:\n${output}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  const endpoints = JSON.parse(readFileSync(file, 'utf8')) as MeshEndpoints;
  const cliRawEnv = async (extra: NodeJS.ProcessEnv, ...args: string[]) => {
    try {
      const { stdout, stderr } = await run(process.execPath, [CLI, ...args], {
        env: { ...childEnv, ...extra },
      });
      return { code: 0, stdout, stderr };
    } catch (err) {
      const e = err as { code?: number; stdout?: string; stderr?: string };
      return {
        code: typeof e.code === 'number' ? e.code : 1,
        stdout: e.stdout ?? '',
        stderr: e.stderr ?? '',
      };
    }
  };
  const cliRaw = (...args: string[]) => cliRawEnv({}, ...args);
  return {
    home,
    endpoints,
    process: child,
    output: () => output,
    cliRaw,
    cliRawEnv,
    readEndpoints: () => JSON.parse(readFileSync(file, 'utf8')) as MeshEndpoints,
    async cli<T>(...args: string[]) {
      const r = await cliRaw(...args, '--json');
      if (r.code !== 0) throw new Error(`zenmesh ${args.join(' ')} failed (${r.code}): ${r.stderr}`);
      return JSON.parse(r.stdout) as T;
    },
    async stop() {
      if (child.exitCode !== null) return child.exitCode;
      const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
      child.kill('SIGTERM');
      const code = await exited;
      rmSync(home, { recursive: true, force: true });
      return code;
    },
  };
}
