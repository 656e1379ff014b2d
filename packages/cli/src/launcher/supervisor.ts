import { type ChildProcess, fork } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import type { ReadyMessage } from '@zenmesh/runtime';
import { CliError } from '../errors.js';

export interface ServiceSpec {
  /** The process's name: the service's, or `<service>-<n>` for one of its replicas. */
  name: string;
  /** The service it runs (its SPIFFE ID, its variables). */
  service: string;
  /** Absolute path of the service's dist/main.js. */
  main: string;
  env: NodeJS.ProcessEnv;
  logFile: string;
}

export interface RunningChild {
  name: string;
  service: string;
  child: ChildProcess;
  ready: ReadyMessage;
  logFile: string;
}

const READY_TIMEOUT_MS = 30_000;
const STOP_TIMEOUT_MS = 20_000;

const tail = (file: string, lines = 8): string => {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  }
};

/**
 * Starts one service as its own Node process and resolves when it reports ready over IPC. Its stdout and
 * stderr go to its log file; a process that exits before it is ready rejects with the end of that log.
 */
export function startService(spec: ServiceSpec): Promise<RunningChild> {
  const fd = openSync(spec.logFile, 'a', 0o600);
  const child = fork(spec.main, [], {
    env: spec.env,
    stdio: ['ignore', fd, fd, 'ipc'],
    execArgv: ['--enable-source-maps'],
  });
  closeSync(fd);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(
        new CliError(
          'ERR_START_FAILED',
          `${spec.name} did not become ready within ${READY_TIMEOUT_MS / 1000}s; see ${spec.logFile}`,
        ),
      );
    }, READY_TIMEOUT_MS);
    const onExit = (code: number | null, signal: NodeJS.Signals | null) => {
      clearTimeout(timer);
      const why = tail(spec.logFile);
      reject(
        new CliError(
          'ERR_START_FAILED',
          `${spec.name} exited during start-up (${signal ?? `code ${code}`}); see ${spec.logFile}${why ? `\n${why}` : ''}`,
        ),
      );
    };
    child.once('exit', onExit);
    child.on('message', (message: unknown) => {
      const m = message as Partial<ReadyMessage>;
      if (m?.type !== 'zenmesh:ready') return;
      clearTimeout(timer);
      child.off('exit', onExit);
      resolve({
        name: spec.name,
        service: spec.service,
        child,
        ready: m as ReadyMessage,
        logFile: spec.logFile,
      });
    });
  });
}

/** SIGTERM, then wait for the process to drain and exit; SIGKILL after STOP_TIMEOUT_MS. */
export function stopService(running: RunningChild): Promise<number | null> {
  const { child } = running;
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve(code);
    });
    child.kill('SIGTERM');
  });
}
