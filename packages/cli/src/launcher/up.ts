import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Health, HealthCheckResponse_ServingStatus } from '@zenmesh/proto';
import { createMeshChannel } from '@zenmesh/rpc';
import { CliError } from '../errors.js';
import { type Endpoints, paths } from '../home.js';
import type { Output } from '../output.js';
import { ensureLocalState, issueLocalSvid, readIdentity, type TrustDomainOptions } from './state.js';
import { type RunningChild, startService, stopService } from './supervisor.js';

export interface UpOptions extends TrustDomainOptions {
  home: string;
  host: string;
  ingesterPort: number;
  bffPort: number;
  tokenPort: number;
}

const MAX_RESTARTS = 5;
const RESTART_WINDOW_MS = 60_000;

/** Start order: each service starts after the ones it calls. */
export const SERVICES = ['ca', 'token', 'backend', 'egress', 'ingester', 'bff'] as const;
type ServiceName = (typeof SERVICES)[number];

const resolveMain = (service: ServiceName): string =>
  new URL(import.meta.resolve(`@zenmesh/${service}/main`)).pathname;

/** The parent's environment minus every ZENMESH_* setting: each child gets exactly the ones meant for it. */
const baseEnv = (): NodeJS.ProcessEnv =>
  Object.fromEntries(
    Object.entries(process.env).filter(([k]) => !k.startsWith('ZENMESH_') || k === 'ZENMESH_HOME'),
  );

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

/**
 * `zenmesh up`: one machine, no containers. Makes (or reopens) the trust domain under the state directory,
 * issues every workload its SVID, starts the six services in dependency order on loopback, waits for every
 * health check, then prints and writes the endpoints. Resolves when the mesh has stopped.
 */
export async function up(options: UpOptions, out: Output): Promise<number> {
  const p = paths(options.home);
  if (existsSync(p.endpoints)) {
    const previous = JSON.parse(readFileSync(p.endpoints, 'utf8')) as Partial<Endpoints>;
    if (previous.pid && previous.pid !== process.pid && alive(previous.pid)) {
      throw new CliError('ERR_USAGE', `a mesh is already running from ${options.home} (pid ${previous.pid})`);
    }
    rmSync(p.endpoints, { force: true });
  }

  out.progress(`Preparing trust domain ${options.trustDomain} in ${options.home}`);
  const state = await ensureLocalState(options.home, options);
  const svids = Object.fromEntries(
    await Promise.all(
      [...SERVICES, 'cli'].map(async (s) => [s, await issueLocalSvid(state, s, options)] as const),
    ),
  );

  const running: RunningChild[] = [];
  const grpc: Record<string, string> = {};
  const http: Record<string, string> = {};
  const dbEnv = (service: string): NodeJS.ProcessEnv =>
    process.env.DATABASE_URL
      ? { DATABASE_URL: process.env.DATABASE_URL }
      : { ZENMESH_DATA_DIR: join(p.data, service) };
  const listen = (port: number) => `${options.host}:${port}`;

  const envFor = (service: ServiceName): NodeJS.ProcessEnv => {
    const svid = svids[service];
    if (!svid) throw new Error(`no SVID for ${service}`);
    const common: NodeJS.ProcessEnv = {
      ...baseEnv(),
      ZENMESH_TRUST_DOMAIN: options.trustDomain,
      ZENMESH_NAMESPACE: options.namespace,
      ZENMESH_TLS_CERT: svid.cert,
      ZENMESH_TLS_KEY: svid.key,
      ZENMESH_TLS_CA: svid.ca,
      ZENMESH_GRPC_LISTEN: `${options.host}:0`,
      ZENMESH_SECRETS_DIR: p.secrets,
    };
    switch (service) {
      case 'ca':
        return { ...common, ZENMESH_CA_BUNDLE: state.bundleFile };
      case 'token':
        return {
          ...common,
          ...dbEnv('token'),
          ZENMESH_HTTP_LISTEN: listen(options.tokenPort),
          ZENMESH_BOOTSTRAP_ADMIN_KEY_SHA256: state.adminKeySha256,
        };
      case 'backend':
        return { ...common, ...dbEnv('backend') };
      case 'egress':
        return { ...common, ZENMESH_BACKEND_ADDR: grpc.backend };
      case 'ingester':
        return {
          ...common,
          ZENMESH_HTTP_LISTEN: listen(options.ingesterPort),
          ZENMESH_BACKEND_ADDR: grpc.backend,
          ZENMESH_EGRESS_ADDR: grpc.egress,
        };
      case 'bff':
        return {
          ...common,
          ZENMESH_HTTP_LISTEN: listen(options.bffPort),
          ZENMESH_BACKEND_ADDR: grpc.backend,
          ZENMESH_TOKEN_ADDR: grpc.token,
          ZENMESH_CA_ADDR: grpc.ca,
          ZENMESH_INGEST_PUBLIC_URL: http.ingester,
        };
    }
  };

  let stopping: Promise<void> | undefined;
  const stopAll = () => {
    stopping ??= (async () => {
      rmSync(p.endpoints, { force: true });
      for (const r of [...running].reverse()) {
        out.progress(`Stopping ${r.name}`);
        await stopService(r);
      }
    })();
    return stopping;
  };

  try {
    for (const service of SERVICES) {
      out.progress(`Starting ${service}`);
      const r = await startService({
        name: service,
        main: resolveMain(service),
        env: envFor(service),
        logFile: join(p.logs, `${service}.log`),
      });
      running.push(r);
      if (r.ready.grpc) grpc[service] = r.ready.grpc;
      if (r.ready.http) http[service] = r.ready.http;
      out.progress(
        `  ${service} ready${r.ready.grpc ? ` (gRPC ${r.ready.grpc})` : ''}${r.ready.http ? ` (HTTP ${r.ready.http})` : ''}`,
      );
    }
    const cli = svids.cli;
    if (!cli) throw new Error('no SVID for the CLI');
    await checkHealth(grpc, http, readIdentity(cli), options, out);
  } catch (err) {
    await stopAll();
    throw err;
  }

  const endpoints: Endpoints = {
    ingester: http.ingester ?? '',
    bff: http.bff ?? '',
    token: http.token ?? '',
    grpc,
    pid: process.pid,
    pids: {},
    startedAt: new Date().toISOString(),
  };
  const writeEndpoints = () => {
    endpoints.pids = Object.fromEntries(running.map((r) => [r.name, r.child.pid ?? 0]));
    writeFileSync(p.endpoints, `${JSON.stringify(endpoints, null, 2)}\n`, { mode: 0o644 });
  };
  writeEndpoints();
  printEndpoints(endpoints, options, state.adminKeyCreated, out);

  return await new Promise<number>((resolve) => {
    const onSignal = (signal: NodeJS.Signals) => {
      out.progress(`\n${signal}: stopping Zen Mesh`);
      void stopAll().then(() => resolve(0));
    };
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
    const restarts = new Map<string, number[]>();

    /**
     * A crashed service is restarted on the same addresses, so its peers reconnect without being told
     * anything; work it held under a lease is picked up again when the lease expires. A service that crashes
     * more than MAX_RESTARTS times in RESTART_WINDOW_MS stops the whole mesh, loudly.
     */
    const supervise = (r: RunningChild) => {
      r.child.once('exit', (code, signal) => {
        if (stopping) return;
        process.stderr.write(
          `zenmesh: ${r.name} exited unexpectedly (${signal ?? `code ${code}`}); see ${r.logFile}\n`,
        );
        const now = Date.now();
        const recent = (restarts.get(r.name) ?? []).filter((t) => now - t < RESTART_WINDOW_MS);
        if (recent.length >= MAX_RESTARTS) {
          process.stderr.write(`zenmesh: ${r.name} keeps crashing; stopping the mesh\n`);
          void stopAll().then(() => resolve(1));
          return;
        }
        restarts.set(r.name, [...recent, now]);
        const service = r.name as ServiceName;
        const env = envFor(service);
        if (r.ready.grpc) env.ZENMESH_GRPC_LISTEN = r.ready.grpc;
        if (r.ready.http) env.ZENMESH_HTTP_LISTEN = new URL(r.ready.http).host;
        out.progress(`Restarting ${service}`);
        startService({ name: service, main: resolveMain(service), env, logFile: r.logFile }).then(
          (next) => {
            running[running.indexOf(r)] = next;
            if (stopping) {
              void stopService(next);
              return;
            }
            writeEndpoints();
            out.progress(`  ${service} ready again (pid ${next.child.pid})`);
            supervise(next);
          },
          (err: unknown) => {
            process.stderr.write(`zenmesh: ${service} could not be restarted: ${(err as Error).message}\n`);
            void stopAll().then(() => resolve(1));
          },
        );
      });
    };
    for (const r of running) supervise(r);
  });
}

async function checkHealth(
  grpc: Record<string, string>,
  http: Record<string, string>,
  identity: ReturnType<typeof readIdentity>,
  options: UpOptions,
  out: Output,
): Promise<void> {
  out.progress('Checking health over mTLS');
  await Promise.all([
    ...Object.entries(grpc).map(async ([service, address]) => {
      const channel = createMeshChannel({
        address,
        identity,
        peer: service,
        trustDomain: options.trustDomain,
        namespace: options.namespace,
      });
      try {
        const res = await channel.client(Health).check({ service: '' });
        if (res.status !== HealthCheckResponse_ServingStatus.SERVING) {
          throw new CliError(
            'ERR_START_FAILED',
            `${service} reports ${HealthCheckResponse_ServingStatus[res.status]}`,
          );
        }
      } finally {
        channel.close();
      }
    }),
    ...Object.entries(http).map(async ([service, base]) => {
      const res = await fetch(new URL('/healthz', base), { signal: AbortSignal.timeout(5000) });
      if (!res.ok) throw new CliError('ERR_START_FAILED', `${service} /healthz answered ${res.status}`);
    }),
  ]);
}

function printEndpoints(e: Endpoints, options: UpOptions, adminKeyCreated: boolean, out: Output): void {
  const p = paths(options.home);
  out.result(e, () => {
    out.line(`Zen Mesh is up (trust domain ${options.trustDomain})`);
    out.line(`  ingester  ${e.ingester}   POST /v1/webhooks/{sourceId}`);
    out.line(`  bff       ${e.bff}   admin API /api/v1`);
    out.line(`  token     ${e.token}`);
    out.line(
      `  internal gRPC, mutual TLS only: ${Object.entries(e.grpc)
        .map(([k, v]) => `${k} ${v}`)
        .join(', ')}`,
    );
    out.line(`  admin API key: ${p.adminKey}${adminKeyCreated ? ' (created now; mode 0600)' : ''}`);
    out.line(`  state: ${options.home}   logs: ${p.logs}`);
    out.line('Press Ctrl-C to stop.');
  });
}
