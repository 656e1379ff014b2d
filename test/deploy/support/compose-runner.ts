import { type ChildProcess, spawn } from 'node:child_process';
import { randomInt } from 'node:crypto';
import {
  chmodSync,
  chownSync,
  closeSync,
  copyFileSync,
  existsSync,
  linkSync,
  mkdirSync,
  openSync,
  readFileSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { createServer, type Server } from 'node:http';
import { connect } from 'node:net';
import { dirname, join } from 'node:path';
import pg from 'pg';
import {
  type ComposeConfig,
  type ComposeService,
  DOCKERFILE,
  dockerEntrypoint,
  mounts,
} from './compose-file.js';
import { writeHostsShim } from './hosts-shim.js';

const IMAGE_APP = '/app';
const isRoot = process.getuid?.() === 0;

/** The image's ENV lines (final stage): what every container of it starts with. */
function imageEnv(): Record<string, string> {
  const lines = readFileSync(DOCKERFILE, 'utf8').split('\n');
  const last = lines.map((l) => l.startsWith('FROM ')).lastIndexOf(true);
  return Object.fromEntries(
    lines
      .slice(last)
      .filter((l) => l.startsWith('ENV '))
      .flatMap((l) => l.slice(4).trim().split(/\s+/))
      .map((kv) => kv.split('=') as [string, string]),
  );
}

export interface Running {
  name: string;
  child: ChildProcess;
  log: string;
  exited: Promise<number | null>;
}

/**
 * Runs the services of a compose model as processes on this machine, each with exactly its compose
 * environment and command, mapped the way a container would see the world:
 * - each named volume is a directory under `root/volumes`; a service sees only the ones it mounts, at the
 *   paths it mounts them (container paths in its environment and arguments point into those directories);
 * - each service gets its own loopback address (127.a.b.N): the service names resolve to it through a DNS
 *   preload (hosts-shim.ts), and its `0.0.0.0:PORT` listen addresses become that address with the same port;
 * - `/app` is a real `pnpm deploy --prod` tree, what the Dockerfile copies into the image;
 * - the compose `user:` is taken when this runs as root (uid/gid of the process).
 * Substitutes, stated: Postgres is this machine's server (a fresh database of the compose name), the image's
 * tini is left out (the process is not PID 1), `read_only`/`:ro` are not enforced (the test runs as root),
 * Jaeger is a counting OTLP/HTTP sink.
 */
export function createComposeRunner(opts: {
  config: ComposeConfig;
  root: string;
  appDir: string;
  adminDatabaseUrl: string;
}) {
  const { config, root, appDir } = opts;
  const a = randomInt(1, 255);
  const b = randomInt(1, 255);
  const names = Object.keys(config.services);
  const ips: Record<string, string> = Object.fromEntries(names.map((n, i) => [n, `127.${a}.${b}.${i + 2}`]));
  // The real local Postgres listens on 127.0.0.1:5432 (the port compose's postgres uses); the host
  // machine of `host.docker.internal` is this one.
  ips.postgres = '127.0.0.1';
  const hosts = { ...ips, 'host.docker.internal': '127.0.0.1' };
  mkdirSync(join(root, 'volumes'), { recursive: true });
  chmodSync(root, 0o755);
  const shim = writeHostsShim(root, hosts);
  // The container user must be able to run node: this machine's binary may sit under a private home.
  const node = (() => {
    if (!isRoot) return process.execPath;
    const copy = join(root, 'node');
    try {
      linkSync(process.execPath, copy);
    } catch {
      copyFileSync(process.execPath, copy);
    }
    chmodSync(copy, 0o755);
    return copy;
  })();
  const nodeBin = node;
  const running = new Map<string, Running>();
  const otlp = { requests: 0, server: undefined as Server | undefined };

  const volumeDir = (volume: string) => {
    const dir = join(root, 'volumes', volume);
    mkdirSync(dir, { recursive: true });
    return dir;
  };

  /**
   * Container path → host path for one service: under one of its mounts → that volume's directory; the image's
   * /app → the deployed tree; a directory that only holds mount points (init's --root) → the service's own
   * file tree, where each mount point is a link to its volume. Anything else is left as it is, so a path the
   * service does not mount points nowhere and fails as it would in the container.
   */
  const mapper = (service: ComposeService, name = nameOf(service)) => {
    const fsRoot = join(root, 'fs', name);
    const table = [
      ...mounts(service).map((m) => ({ from: m.target, to: volumeDir(m.volume) })),
      { from: IMAGE_APP, to: appDir },
    ].sort((x, y) => y.from.length - x.from.length);
    for (const m of mounts(service)) {
      const link = join(fsRoot, m.target);
      if (!existsSync(link)) {
        mkdirSync(dirname(link), { recursive: true });
        symlinkSync(volumeDir(m.volume), link);
      }
    }
    return (value: string) => {
      for (const { from, to } of table) {
        if (value === from) return to;
        if (value.startsWith(`${from}/`)) return to + value.slice(from.length);
      }
      if (value.startsWith('/') && table.some((t) => t.from.startsWith(`${value.replace(/\/$/, '')}/`))) {
        return join(fsRoot, value);
      }
      return value;
    };
  };
  const nameOf = (service: ComposeService) =>
    Object.entries(config.services).find(([, s]) => s === service)?.[0] ?? 'unknown';

  const envOf = (name: string): NodeJS.ProcessEnv => {
    const service = config.services[name] as ComposeService;
    const map = mapper(service);
    const env: NodeJS.ProcessEnv = { ...imageEnv(), PATH: process.env.PATH ?? '' };
    for (const [key, raw] of Object.entries(service.environment ?? {})) {
      if (raw === null) continue;
      let value = map(raw);
      if (key.endsWith('_LISTEN')) value = value.replace(/^0\.0\.0\.0:(\d+)$/, `${ips[name]}:$1`);
      env[key] = value;
    }
    env.NODE_OPTIONS = `--import=${shim}`;
    // compose's `tmpfs: /tmp`: a private temporary directory per container.
    if ([service.tmpfs ?? []].flat().includes('/tmp')) {
      mkdirSync(join(root, 'tmp'), { recursive: true, mode: 0o755 });
      const tmp = join(root, 'tmp', name);
      mkdirSync(tmp, { recursive: true, mode: 0o700 });
      const { uid, gid } = userOf(service);
      if (uid !== undefined && gid !== undefined) chownSync(tmp, uid, gid);
      env.TMPDIR = tmp;
    }
    return env;
  };

  const userOf = (service: ComposeService): { uid?: number; gid?: number } => {
    if (!isRoot || !service.user) return {};
    const [uid, gid] = service.user.split(':').map(Number);
    return { uid: uid as number, gid: gid as number };
  };

  /** The image entry point without tini (node is not PID 1 here), pointed at the deployed /app. */
  const entry = (): string[] => {
    const ep = dockerEntrypoint();
    const at = ep.indexOf('node');
    if (at < 0) throw new Error(`unexpected ENTRYPOINT ${JSON.stringify(ep)}`);
    return [
      nodeBin,
      ...ep.slice(at + 1).map((arg) => (arg.startsWith(IMAGE_APP) ? appDir + arg.slice(4) : arg)),
    ];
  };

  const spawnLogged = (
    name: string,
    argv: string[],
    env: NodeJS.ProcessEnv,
    user: { uid?: number; gid?: number },
  ) => {
    const log = join(root, `${name}.log`);
    const fd = openSync(log, 'a', 0o644);
    const [cmd, ...args] = argv as [string, ...string[]];
    const child = spawn(cmd, args, { env, stdio: ['ignore', fd, fd], cwd: appDir, ...user });
    closeSync(fd);
    const exited = new Promise<number | null>((resolve) => {
      child.once('error', (err) => {
        writeFileSync(log, `spawn failed: ${err.message}\n`, { flag: 'a' });
        resolve(-1);
      });
      child.once('exit', (code) => resolve(code));
    });
    const r: Running = { name, child, log, exited };
    running.set(name, r);
    return r;
  };

  const tail = (name: string, lines = 15) => {
    try {
      return readFileSync(join(root, `${name}.log`), 'utf8')
        .trimEnd()
        .split('\n')
        .slice(-lines)
        .join('\n');
    } catch {
      return '';
    }
  };

  /** Runs the compose healthcheck command inside the service's "container" (its env, user and mounts). */
  const healthcheckOnce = (name: string): Promise<{ code: number | null; output: string }> => {
    const service = config.services[name] as ComposeService;
    const test = service.healthcheck?.test ?? [];
    if (test[0] !== 'CMD' || test[1] !== 'node')
      throw new Error(`${name}: unexpected healthcheck ${JSON.stringify(test)}`);
    const map = mapper(service);
    const child = spawn(nodeBin, test.slice(2).map(map), {
      env: envOf(name),
      cwd: appDir,
      stdio: ['ignore', 'pipe', 'pipe'],
      ...userOf(service),
    });
    const chunks: Buffer[] = [];
    child.stdout?.on('data', (c: Buffer) => chunks.push(c));
    child.stderr?.on('data', (c: Buffer) => chunks.push(c));
    return new Promise((resolve) => {
      child.once('error', (err) => resolve({ code: -1, output: err.message }));
      child.once('exit', (code) => resolve({ code, output: Buffer.concat(chunks).toString('utf8') }));
    });
  };

  const waitHealthy = async (name: string, timeoutMs = 90_000) => {
    const deadline = Date.now() + timeoutMs;
    let last = '';
    for (;;) {
      const r = running.get(name);
      if (r && (r.child.exitCode !== null || r.child.pid === undefined)) {
        throw new Error(`${name} exited (code ${r.child.exitCode}) before it was healthy:\n${tail(name)}`);
      }
      const { code, output } = await healthcheckOnce(name);
      if (code === 0) return output.trim();
      last = output.trim();
      if (Date.now() > deadline) throw new Error(`${name} never became healthy: ${last}\n${tail(name)}`);
      await new Promise((res) => setTimeout(res, 1000));
    }
  };

  const waitCompleted = async (name: string) => {
    const code = await (running.get(name) as Running).exited;
    if (code !== 0) throw new Error(`${name} exited with ${code}:\n${tail(name, 30)}`);
  };

  const startRedis = async () => {
    const service = config.services.redis as ComposeService;
    const map = mapper(service);
    const argv = [...(service.command ?? []).map(map), '--bind', ips.redis as string];
    spawnLogged('redis', argv, { PATH: process.env.PATH ?? '' }, isRoot ? { uid: 999, gid: 999 } : {});
    // compose's check: the server answers PING (PONG, or NOAUTH because a password is required).
    const deadline = Date.now() + 15_000;
    for (;;) {
      const reply = await new Promise<string>((resolve) => {
        const s = connect(6379, ips.redis as string);
        s.once('error', () => resolve(''));
        s.once('data', (d) => {
          resolve(d.toString());
          s.destroy();
        });
        s.once('connect', () => s.write('PING\r\n'));
      });
      if (/PONG|NOAUTH/.test(reply)) return;
      if (Date.now() > deadline) throw new Error(`redis did not answer:\n${tail('redis')}`);
      await new Promise((res) => setTimeout(res, 200));
    }
  };

  const startPostgres = async () => {
    const db = config.services.postgres?.environment?.POSTGRES_DB;
    if (!db) throw new Error('compose postgres sets no POSTGRES_DB');
    const admin = new pg.Client({ connectionString: opts.adminDatabaseUrl });
    await admin.connect();
    try {
      await admin.query(`create database ${db}`);
    } finally {
      await admin.end();
    }
  };

  const startJaeger = async () => {
    otlp.server = createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        if (req.method === 'POST' && req.url === '/v1/traces') otlp.requests++;
        res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      });
    });
    await new Promise<void>((resolve) => otlp.server?.listen(4318, ips.jaeger, resolve));
  };

  return {
    ips,
    otlp,
    hostPath: (name: string, containerPath: string) =>
      mapper(config.services[name] as ComposeService)(containerPath),
    tail,
    healthcheckOnce,
    waitHealthy,
    /** Starts one compose service the way `up` would, and waits for what its dependants wait for. */
    async start(name: string): Promise<void> {
      if (name === 'postgres') return startPostgres();
      if (name === 'redis') return startRedis();
      if (name === 'jaeger') return startJaeger();
      const service = config.services[name] as ComposeService;
      const map = mapper(service);
      spawnLogged(name, [...entry(), ...(service.command ?? []).map(map)], envOf(name), userOf(service));
      if (service.restart === 'no' || service.healthcheck?.disable) return waitCompleted(name);
      await waitHealthy(name);
    },
    async stop(name: string): Promise<number | null> {
      const r = running.get(name);
      if (!r || r.child.exitCode !== null || r.child.signalCode !== null) return r?.child.exitCode ?? null;
      r.child.kill('SIGTERM');
      const timer = setTimeout(() => r.child.kill('SIGKILL'), 20_000);
      const code = await r.exited;
      clearTimeout(timer);
      return code;
    },
    async stopAll(): Promise<void> {
      for (const name of [...running.keys()].reverse()) await this.stop(name);
      await new Promise<void>((resolve) => (otlp.server ? otlp.server.close(() => resolve()) : resolve()));
    },
  };
}

export type ComposeRunner = ReturnType<typeof createComposeRunner>;
