import { type ChildProcess, fork } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadMasterKey } from '@zenmesh/crypto';
import { mintJoinToken } from '@zenmesh/identity';
import { spiffeIdFor } from '@zenmesh/pki';
import { REPO } from '../../support/mesh.js';
import type { ChaosMesh } from './chaos-mesh.js';

/**
 * A JavaScript clock moved by ZM_TEST_CLOCK_SKEW_MS: Date and Date.now are shifted (what the HMAC timestamps,
 * the per-call peer guard and the SVID renewal timer read), while OpenSSL's certificate checks at the TLS
 * handshake keep the system clock — a preload is not a faketime for native code.
 */
const SKEW_PRELOAD = `data:text/javascript,${encodeURIComponent(`
const skew = Number(process.env.ZM_TEST_CLOCK_SKEW_MS);
const RealDate = Date;
const realNow = RealDate.now.bind(RealDate);
globalThis.Date = class extends RealDate {
  constructor(...a) { if (a.length === 0) super(realNow() + skew); else super(...a); }
  static now() { return realNow() + skew; }
};
`)}`;

export interface ExtraService {
  child: ChildProcess;
  /** host:port of its gRPC server (backend, egress). */
  grpc: string | undefined;
  /** Base URL of its HTTP face (ingester). */
  http: string | undefined;
  log: string;
  stop(): Promise<void>;
}

export interface ExtraServiceOptions {
  service: 'ingester' | 'backend' | 'egress';
  /** Names its log file: logs/<service>-<label>.log. */
  label: string;
  /** Moves this process's JavaScript clock (see SKEW_PRELOAD). */
  skewMs?: number;
  /** Overrides on top of the running service's own environment (e.g. ZENMESH_BACKEND_ADDR). */
  env?: NodeJS.ProcessEnv;
  logLevel?: string;
}

/** The environment the launcher gave the running `name` (same user: /proc/<pid>/environ is readable). */
function environOf(pid: number): NodeJS.ProcessEnv {
  const raw = readFileSync(`/proc/${pid}/environ`, 'utf8');
  return Object.fromEntries(
    raw
      .split('\0')
      .filter((kv) => kv.includes('='))
      .map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]),
  );
}

/**
 * One more instance of a service joining the running mesh: the launcher's environment for that service (read
 * off the running process), a fresh one-time join token of its own (so its own key pair and SVID), its
 * listeners on free ports, and the overrides given. Resolves once it reports ready over IPC.
 */
export async function startExtraService(cm: ChaosMesh, o: ExtraServiceOptions): Promise<ExtraService> {
  const home = cm.mesh.home;
  // With --replicas the service's processes are named <service>-1, <service>-2, …
  const base = environOf(cm.pid(o.service) || cm.pid(`${o.service}-1`));
  const id = {
    trustDomain: base.ZENMESH_TRUST_DOMAIN ?? 'zenmesh.local',
    namespace: base.ZENMESH_NAMESPACE ?? 'zenmesh',
  };
  const log = join(home, 'logs', `${o.service}-${o.label}.log`);
  const fd = openSync(log, 'a');
  const env: NodeJS.ProcessEnv = {
    ...base,
    LOG_LEVEL: o.logLevel ?? 'info',
    ZENMESH_JOIN_TOKEN: mintJoinToken(loadMasterKey(join(home, 'secrets')), {
      spiffeId: spiffeIdFor(o.service, id),
    }).token,
    ...(base.ZENMESH_GRPC_LISTEN ? { ZENMESH_GRPC_LISTEN: '127.0.0.1:0' } : {}),
    ...(base.ZENMESH_HTTP_LISTEN ? { ZENMESH_HTTP_LISTEN: '127.0.0.1:0' } : {}),
    ...(base.ZENMESH_METRICS_LISTEN ? { ZENMESH_METRICS_LISTEN: '127.0.0.1:0' } : {}),
    ...(o.skewMs === undefined
      ? {}
      : { NODE_OPTIONS: `--import=${SKEW_PRELOAD}`, ZM_TEST_CLOCK_SKEW_MS: String(o.skewMs) }),
    ...o.env,
  };
  const child = fork(join(REPO, `services/${o.service}/dist/main.js`), [], {
    env,
    stdio: ['ignore', fd, fd, 'ipc'],
  });
  closeSync(fd);
  const ready = await new Promise<{ grpc?: string; http?: string }>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`extra ${o.service} not ready; see ${log}`)), 60_000);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`extra ${o.service} exited ${code}: ${readFileSync(log, 'utf8').slice(-2000)}`));
    });
    child.on('message', (m: { type?: string; grpc?: string; http?: string }) => {
      if (m.type === 'zenmesh:ready') {
        clearTimeout(timer);
        resolve(m);
      }
    });
  });
  return {
    child,
    grpc: ready.grpc,
    http: ready.http,
    log,
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise<void>((r) => child.once('exit', () => r()));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
      await exited;
      clearTimeout(timer);
    },
  };
}
