import { createLogger, type Logger, startTelemetry } from '@zenmesh/telemetry';

export interface ReadyInfo {
  /** host:port of the gRPC server, when the service has one. */
  grpc?: string;
  /** Base URL of the HTTP server, when the service has one. */
  http?: string;
  /** host:port of the CA's join listener (the `ca` service only). */
  join?: string;
}

export interface RunningService {
  ready: ReadyInfo;
  /** Stop accepting work, drain what is in flight, release resources. */
  stop(): Promise<void>;
}

export interface ReadyMessage extends ReadyInfo {
  type: 'zenmesh:ready';
  service: string;
  pid: number;
}

const STOP_TIMEOUT_MS = 15_000;

/**
 * The lifecycle every service's main.ts hands itself to: start telemetry, start the service, tell the
 * launcher (over the fork IPC channel, when there is one) where it listens; on SIGTERM/SIGINT drain and
 * exit 0. A startup failure is one line on stderr and exit 1: fail closed, fail clearly.
 */
export function runService(name: string, start: (ctx: { logger: Logger }) => Promise<RunningService>): void {
  const logger = createLogger(name);
  const telemetry = startTelemetry(name);
  let running: RunningService | undefined;
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
    try {
      await running?.stop();
    } catch (err) {
      logger.error({ err }, 'error while stopping');
    }
    await telemetry.shutdown();
    logger.flush();
    process.exit(0);
  };
  process.once('SIGTERM', () => void stop('SIGTERM'));
  process.once('SIGINT', () => void stop('SIGINT'));
  // The launcher is our parent: when it dies without a signal, don't linger as an orphan.
  process.once('disconnect', () => void stop('disconnect'));

  start({ logger }).then(
    (service) => {
      running = service;
      logger.info({ ...service.ready }, 'ready');
      if (process.send) {
        const message: ReadyMessage = {
          type: 'zenmesh:ready',
          service: name,
          pid: process.pid,
          ...service.ready,
        };
        process.send(message);
      }
      if (stopping) void service.stop();
    },
    (err: unknown) => {
      const text = err instanceof Error ? err.message : String(err);
      process.stderr.write(`zenmesh-${name}: cannot start: ${text}\n`);
      logger.debug({ err }, 'startup failure detail');
      void telemetry.shutdown().finally(() => process.exit(1));
    },
  );
}
