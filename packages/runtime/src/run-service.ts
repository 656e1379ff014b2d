import { loadConfig, type z } from '@zenmesh/config';
import { createLogger, type Logger, startTelemetry } from '@zenmesh/telemetry';
import { createCleanupStack } from './cleanup-stack.js';

export interface ReadyInfo {
  /** host:port of the gRPC server, when the service has one. */
  grpc?: string;
  /** Base URL of the HTTP server, when the service has one. */
  http?: string;
  /** host:port of the CA's join listener (the `ca` service only). */
  join?: string;
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

  const begin = async () => start({ env: loadConfig(schema), logger, defer: cleanup.defer });
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
