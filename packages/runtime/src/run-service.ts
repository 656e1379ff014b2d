import { loadConfig, metricsEnv, z } from '@zenmesh/config';
import {
  createLogger,
  createMetrics,
  type Logger,
  type Meter,
  observeHttpRequests,
  routeTable,
  startTelemetry,
} from '@zenmesh/telemetry';
import { createCleanupStack } from './cleanup-stack.js';
import { closeHttp } from './http-listen.js';
import { type MetricsServer, startMetricsServer } from './metrics-server.js';

export interface ReadyInfo {
  /** host:port of the gRPC server, when the service has one. */
  grpc?: string;
  /** Base URL of the HTTP server, when the service has one. */
  http?: string;
  /** host:port of the CA's join listener (the `ca` service only). */
  join?: string;
  /** Scrape URL of the metrics listener, when ZENMESH_METRICS_LISTEN is set (filled in by runService). */
  metrics?: string;
}

export interface ReadyMessage extends ReadyInfo {
  type: 'zenmesh:ready';
  service: string;
  pid: number;
}

/** What a service's start function is given. */
export interface ServiceContext<E> {
  /** The service's variables, parsed and validated by its schema. */
  env: E;
  logger: Logger;
  /**
   * Where this process's metrics are recorded (exported on ZENMESH_METRICS_LISTEN; a no-op meter when unset).
   * Passed explicitly to whatever records: there is no global meter provider.
   */
  meter: Meter;
  /**
   * Records `zenmesh_http_request_duration_seconds` for the requests this process's HTTP face answers (the
   * metrics listener left out), with the route label taken from `routes` (templates like
   * `/v1/webhooks/{sourceId}`; anything else is `other`).
   */
  observeHttp(routes: readonly string[]): void;
  /**
   * Registers a step that undoes part of the start (stop an engine, close a channel or a database). On
   * SIGTERM/SIGINT, and when the start itself fails, the steps run newest first.
   */
  defer(step: () => void | Promise<void>): void;
}

const STOP_TIMEOUT_MS = 15_000;

/**
 * The lifecycle every service's main.ts hands itself to: read the environment with the service's schema,
 * start telemetry, start the service, tell the launcher (over the fork IPC channel, when there is one) where it
 * listens; on SIGTERM/SIGINT run the deferred steps and exit 0. A startup failure (a bad variable included)
 * undoes what was started, then is one line on stderr and exit 1: fail closed, fail clearly.
 */
export function runService<S extends z.ZodRawShape>(
  name: string,
  schema: z.ZodObject<S>,
  start: (ctx: ServiceContext<z.output<z.ZodObject<S>>>) => Promise<ReadyInfo>,
): void {
  const logger = createLogger(name);
  const telemetry = startTelemetry(name);
  const cleanup = createCleanupStack();
  const undo = () => cleanup.run((err) => logger.error({ err }, 'error while stopping'));
  let started = false;
  let stopping = false;

  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'stopping');
    const force = setTimeout(() => {
      logger.error('stop timed out; exiting');
      process.exit(1);
    }, STOP_TIMEOUT_MS);
    force.unref();
    // A stop during start waits for the start to settle (it undoes itself when it fails).
    if (started) await undo();
    await telemetry.shutdown();
    logger.flush();
    process.exit(0);
  };
  process.once('SIGTERM', () => void stop('SIGTERM'));
  process.once('SIGINT', () => void stop('SIGINT'));
  // The launcher is our parent: when it dies without a signal, don't linger as an orphan.
  process.once('disconnect', () => void stop('disconnect'));

  const begin = async (): Promise<ReadyInfo> => {
    const env = loadConfig(schema);
    const listen = loadConfig(z.object(metricsEnv)).ZENMESH_METRICS_LISTEN;
    const metrics = createMetrics(name, { enabled: listen !== undefined });
    cleanup.defer(() => metrics.shutdown());
    let served: MetricsServer | undefined;
    if (listen !== undefined) {
      const server = await startMetricsServer(metrics, listen);
      cleanup.defer(() => closeHttp(server.server, 1_000));
      served = server;
    }
    const observeHttp = (routes: readonly string[]) => {
      if (!metrics.enabled) return;
      const observer = observeHttpRequests(metrics.meter, routeTable(routes), (s) => s !== served?.server);
      cleanup.defer(() => observer.stop());
    };
    const ready = await start({ env, logger, meter: metrics.meter, observeHttp, defer: cleanup.defer });
    const scrape = served?.url;
    return scrape === undefined ? ready : { ...ready, metrics: scrape };
  };
  begin().then(
    (ready) => {
      started = true;
      logger.info({ ...ready }, 'ready');
      if (process.send) {
        const message: ReadyMessage = { type: 'zenmesh:ready', service: name, pid: process.pid, ...ready };
        process.send(message);
      }
      if (stopping) void undo();
    },
    async (err: unknown) => {
      await undo();
      const text = err instanceof Error ? err.message : String(err);
      process.stderr.write(`zenmesh-${name}: cannot start: ${text}\n`);
      logger.debug({ err }, 'startup failure detail');
      void telemetry.shutdown().finally(() => process.exit(1));
    },
  );
}
