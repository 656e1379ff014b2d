import { createWriteStream, existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { readKeyringFile } from '@zenmesh/crypto';
import { createMessageIntegrity } from '@zenmesh/rpc';
import { createLogger } from '@zenmesh/telemetry';
import { CliError } from '../errors.js';
import { type Endpoints, paths } from '../home.js';
import type { Output } from '../output.js';
import { CONSOLE_CLIENT_FILE, ensureConsoleClient } from './console-client.js';
import { checkHealth, printEndpoints } from './health-check.js';
import {
  baseEnv,
  insecureServices,
  SERVICES,
  type ServiceName,
  serviceEnv,
  svidTtlFromEnv,
} from './launch-env.js';
import { balanceReplicas, type LoopbackBalancer } from './loopback-balancer.js';
import { parseReplicas, type ReplicaCounts, replicaName, requireSharedStores } from './replicas.js';
import { superviseAll } from './restart-policy.js';
import {
  ensureLocalState,
  issueLocalSvid,
  joinTokenFor,
  type SvidFiles,
  type TrustDomainOptions,
} from './state.js';
import { type RunningChild, type ServiceSpec, startService, stopService } from './supervisor.js';
import { writeWorkloadSecrets } from './workload-secrets.js';

export interface UpOptions extends TrustDomainOptions {
  home: string;
  host: string;
  ingesterPort: number;
  bffPort: number;
  tokenPort: number;
  /** Lifetime of every SVID the CA issues, seconds (default `ZENMESH_SVID_TTL`, else 3600). */
  svidTtlSeconds?: number;
  /**
   * Each service's `/metrics` listener, always on loopback: `port` 0 picks free ports, N gives the services
   * N, N+1, ... in start order (ca, token, backend, egress, ingester, bff). Unset: no metrics listeners.
   */
  metrics?: { port: number };
  /** How many processes of each service (`--replicas ingester=2,…`); default one of each. */
  replicas?: ReplicaCounts;
}

/** ZENMESH_METRICS_LISTEN of one service under `zenmesh up` (loopback only: metrics are for this machine). */
export const metricsListen = (metrics: UpOptions['metrics'], service: ServiceName): NodeJS.ProcessEnv =>
  metrics === undefined
    ? {}
    : {
        ZENMESH_METRICS_LISTEN: `127.0.0.1:${metrics.port === 0 ? 0 : metrics.port + SERVICES.indexOf(service)}`,
      };

/**
 * Services whose main.ts runs the workload agent itself (join token in, SVID never on disk). Any other
 * service gets PEM files that an agent in the launcher keeps current on its behalf, and follows them.
 */
export const SELF_JOINING: ReadonlySet<string> = new Set([
  'ca',
  'token',
  'backend',
  'ingester',
  'egress',
  'bff',
]);

/**
 * Endpoints as written by this launcher: the CA join listener is there for `zenmesh verify`; with replicas,
 * each replica's own addresses (the service's entry in `grpc`/`ingester` is then its loopback balancer).
 */
export type LauncherEndpoints = Endpoints & {
  caJoin: string;
  replicas: Record<string, { grpc?: string; http?: string }>;
};

const resolveMain = (service: ServiceName): string =>
  new URL(import.meta.resolve(`@zenmesh/${service}/main`)).pathname;

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
  const consoleClientFile = join(p.secrets, CONSOLE_CLIENT_FILE);
  if (existsSync(p.endpoints)) {
    const previous = JSON.parse(readFileSync(p.endpoints, 'utf8')) as Partial<Endpoints>;
    if (previous.pid && previous.pid !== process.pid && alive(previous.pid)) {
      throw new CliError('ERR_USAGE', `a mesh is already running from ${options.home} (pid ${previous.pid})`);
    }
    rmSync(p.endpoints, { force: true });
  }

  const replicas = options.replicas ?? parseReplicas(undefined);
  requireSharedStores(replicas, process.env);
  const weakened = insecureServices(process.env.ZENMESH_INSECURE_DISABLE_HMAC);
  const redisPrefix = process.env.ZENMESH_REDIS_PREFIX;
  const svidTtl = options.svidTtlSeconds ?? svidTtlFromEnv(process.env.ZENMESH_SVID_TTL);
  out.progress(`Preparing trust domain ${options.trustDomain} in ${options.home}`);
  const state = await ensureLocalState(options.home, options);
  // Each service its own directory: its pair keys only, the master key only where it still seals with it.
  writeWorkloadSecrets({
    home: options.home,
    masterKey: state.masterKey,
    trustDomain: options.trustDomain,
    namespace: options.namespace,
    state: readKeyringFile(p.secrets),
  });
  // The launcher's own agents (sa/cli, and services that do not run one) log to their own file.
  const agentLog = createWriteStream(join(p.logs, 'launcher.log'), { flags: 'a', mode: 0o600 });
  const agentLogger = createLogger('launcher', { destination: agentLog });
  // The launcher's agents call the CA like any workload: their requests are signed too (DESIGN.md).
  const integrity = await createMessageIntegrity({
    secretsDir: p.secrets,
    cluster: options.trustDomain,
    redisUrl: process.env.REDIS_URL,
    redisPrefix,
    logger: agentLogger,
  });
  const agents = new Map<string, SvidFiles>();
  let caJoin = '';

  const running: RunningChild[] = [];
  const balancers: LoopbackBalancer[] = [];
  const grpc: Record<string, string> = {};
  const http: Record<string, string> = {};
  const metrics: Record<string, string> = {};
  /** An agent in the launcher for `service` (sa/cli, or a service that does not run one): its PEM files. */
  const agentFor = async (service: string): Promise<SvidFiles> => {
    let agent = agents.get(service);
    if (!agent) {
      agent = await issueLocalSvid(state, service, {
        ...options,
        caAddress: grpc.ca ?? '',
        caJoinAddress: caJoin,
        integrity,
        logger: agentLogger.child({ agentFor: service }),
        // A service following its files polls them every 500 ms: let it read a new bundle before confirming.
        ...(service === 'cli' ? {} : { ackDelayMs: 1500 }),
      });
      agents.set(service, agent);
    }
    return agent;
  };

  /** Identity variables: a fresh one-time join token per start, or files kept current by a launcher agent. */
  const identityEnv = async (service: ServiceName): Promise<NodeJS.ProcessEnv> => {
    if (service === 'ca') return {};
    const ca = { ZENMESH_CA_ADDR: grpc.ca, ZENMESH_CA_JOIN_ADDR: caJoin };
    if (SELF_JOINING.has(service)) {
      return {
        ...ca,
        ZENMESH_TLS_CA: state.bundleFile,
        ZENMESH_JOIN_TOKEN: joinTokenFor(state, service, options),
      };
    }
    const files = await agentFor(service);
    return { ...ca, ZENMESH_TLS_CERT: files.cert, ZENMESH_TLS_KEY: files.key, ZENMESH_TLS_CA: files.ca };
  };

  const envFor = async (service: ServiceName): Promise<NodeJS.ProcessEnv> => {
    const common: NodeJS.ProcessEnv = {
      ...baseEnv(),
      ...(await identityEnv(service)),
      ZENMESH_TRUST_DOMAIN: options.trustDomain,
      ZENMESH_NAMESPACE: options.namespace,
      ZENMESH_GRPC_LISTEN: `${options.host}:0`,
      ZENMESH_SECRETS_DIR: p.workload(service),
      ...(redisPrefix ? { ZENMESH_REDIS_PREFIX: redisPrefix } : {}),
      ...(weakened.has(service) ? { ZENMESH_INSECURE_DISABLE_HMAC: '1' } : {}),
      ...metricsListen(options.metrics, service),
      ZENMESH_REPLICAS: String(replicas[service]),
    };
    return serviceEnv(service, common, {
      host: options.host,
      ports: { token: options.tokenPort, ingester: options.ingesterPort, bff: options.bffPort },
      bundleFile: state.bundleFile,
      adminKeySha256: state.adminKeySha256,
      consoleClientFile,
      svidTtl,
      dataDir: p.data,
      grpc,
      http,
      metrics,
    });
  };

  let stopping: Promise<void> | undefined;
  const stopAll = () => {
    stopping ??= (async () => {
      rmSync(p.endpoints, { force: true });
      // The launcher's agents first: a service following its files keeps working with them until it stops.
      for (const a of agents.values()) a.identity.stop();
      for (const r of [...running].reverse()) {
        out.progress(`Stopping ${r.name}`);
        await stopService(r);
      }
      await Promise.all(balancers.map((b) => b.close()));
      await integrity.close();
      agentLog.end();
    })();
    return stopping;
  };

  /** Replicas listen on free ports; the service's own addresses belong to the balancer in front of them. */
  const specFor = async (service: ServiceName, name: string): Promise<ServiceSpec> => {
    const env = await envFor(service);
    if (replicas[service] > 1 && env.ZENMESH_HTTP_LISTEN) env.ZENMESH_HTTP_LISTEN = `${options.host}:0`;
    // Replicas of one service cannot share a metrics port: each gets a free one (printed, in endpoints.json).
    if (replicas[service] > 1 && env.ZENMESH_METRICS_LISTEN) env.ZENMESH_METRICS_LISTEN = '127.0.0.1:0';
    return { name, service, main: resolveMain(service), env, logFile: join(p.logs, `${name}.log`) };
  };

  try {
    for (const service of SERVICES) {
      const count = replicas[service];
      const started: RunningChild[] = [];
      for (let i = 0; i < count; i++) {
        const name = replicaName(service, i, count);
        out.progress(`Starting ${name}`);
        const r = await startService(await specFor(service, name));
        running.push(r);
        started.push(r);
        if (r.ready.metrics) metrics[name] = r.ready.metrics;
        // A service without its own agent: its agent in the launcher reports where the CA can probe it.
        if (r.ready.grpc) agents.get(service)?.identity.setServingAddress(r.ready.grpc);
        out.progress(
          `  ${name} ready${r.ready.grpc ? ` (gRPC ${r.ready.grpc})` : ''}${r.ready.http ? ` (HTTP ${r.ready.http})` : ''}`,
        );
      }
      const first = started[0] as RunningChild;
      if (count === 1) {
        if (first.ready.grpc) grpc[service] = first.ready.grpc;
        if (first.ready.http) http[service] = first.ready.http;
      } else {
        const port = service === 'ingester' ? options.ingesterPort : 0;
        const b = await balanceReplicas(started, {
          grpc: `${options.host}:0`,
          http: `${options.host}:${port}`,
        });
        for (const [face, balancer] of Object.entries(b)) {
          balancers.push(balancer);
          if (face === 'grpc') grpc[service] = balancer.address;
          else http[service] = `http://${balancer.address}`;
          out.progress(`  ${service}: ${count} replicas behind ${face} ${balancer.address}`);
        }
      }
      if (service === 'ca') {
        if (!first.ready.join) throw new CliError('ERR_START_FAILED', 'the CA reported no join listener');
        caJoin = first.ready.join;
        // The operator's identity (sa/cli) comes from the CA like everyone's; the launcher keeps it current.
        await agentFor('cli');
      }
    }
    const cli = agents.get('cli');
    if (!cli) throw new CliError('ERR_STATE', 'the launcher holds no SVID for the CLI');
    // Every replica on its own address, and the HTTP faces as their callers reach them (through a balancer).
    const direct = running
      .filter((r) => r.ready.grpc)
      .map((r) => [r.service, r.ready.grpc] as [string, string]);
    await checkHealth(direct, Object.entries(http), cli.identity.provider, integrity, options, out);
    // The web console signs in through the token service as its own OAuth client, registered once.
    if (
      await ensureConsoleClient(consoleClientFile, http.bff ?? '', readFileSync(p.adminKey, 'utf8').trim())
    ) {
      out.progress('  console registered as an OAuth client of the token service');
    }
  } catch (err) {
    await stopAll();
    throw err;
  }

  const endpoints: LauncherEndpoints = {
    caJoin,
    ingester: http.ingester ?? '',
    bff: http.bff ?? '',
    token: http.token ?? '',
    grpc,
    metrics,
    pid: process.pid,
    pids: {},
    replicas: {},
    startedAt: new Date().toISOString(),
  };
  const writeEndpoints = () => {
    endpoints.pids = Object.fromEntries(running.map((r) => [r.name, r.child.pid ?? 0]));
    endpoints.replicas = Object.fromEntries(
      running
        .filter((r) => replicas[r.service as ServiceName] > 1)
        .map((r) => [
          r.name,
          {
            ...(r.ready.grpc ? { grpc: r.ready.grpc } : {}),
            ...(r.ready.http ? { http: r.ready.http } : {}),
          },
        ]),
    );
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
    superviseAll({
      running,
      out,
      isStopping: () => stopping !== undefined,
      giveUp: (code) => void stopAll().then(() => resolve(code)),
      onRestarted: writeEndpoints,
      async specFor(crashed) {
        const spec = await specFor(crashed.service as ServiceName, crashed.name);
        const { ready } = crashed;
        if (ready.grpc) spec.env.ZENMESH_GRPC_LISTEN = ready.grpc;
        if (ready.http) spec.env.ZENMESH_HTTP_LISTEN = new URL(ready.http).host;
        if (ready.join) spec.env.ZENMESH_CA_JOIN_LISTEN = ready.join;
        if (ready.metrics) spec.env.ZENMESH_METRICS_LISTEN = new URL(ready.metrics).host;
        return { ...spec, logFile: crashed.logFile };
      },
    });
  });
}
