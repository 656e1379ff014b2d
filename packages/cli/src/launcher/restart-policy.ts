import type { Output } from '../output.js';
import { type RunningChild, type ServiceSpec, startService, stopService } from './supervisor.js';

const MAX_RESTARTS = 5;
const RESTART_WINDOW_MS = 60_000;

export interface RestartPolicyOptions {
  /** Every process of the mesh; a restarted one replaces its predecessor in place. */
  running: RunningChild[];
  /** The spec of a fresh start of `crashed` (a new join token), on the addresses it had. */
  specFor(crashed: RunningChild): Promise<ServiceSpec>;
  isStopping(): boolean;
  onRestarted(next: RunningChild): void;
  /** The mesh gives up: stop everything and exit with `code`. */
  giveUp(code: number): void;
  out: Output;
}

/**
 * A crashed process is restarted on the same addresses, so its peers (and the loopback balancer in front of
 * replicas) reconnect without being told anything; work it held under a lease is picked up again when the lease
 * expires. A start that fails is retried with a growing pause (a database or Redis that is restarting comes
 * back); more than MAX_RESTARTS starts of one process in RESTART_WINDOW_MS stop the whole mesh, loudly.
 */
export function superviseAll(o: RestartPolicyOptions): void {
  const restarts = new Map<string, number[]>();
  /** One more start of `r`, counted against the budget; a start that fails (a store still down) retries later. */
  const restart = (r: RunningChild) => {
    const now = Date.now();
    const recent = (restarts.get(r.name) ?? []).filter((t) => now - t < RESTART_WINDOW_MS);
    if (recent.length >= MAX_RESTARTS) {
      process.stderr.write(`zenmesh: ${r.name} keeps crashing; stopping the mesh\n`);
      o.giveUp(1);
      return;
    }
    restarts.set(r.name, [...recent, now]);
    // At once the first time; then 1 s, 2 s, 4 s, 8 s: a store that is restarting gets time to come back.
    const delay = recent.length === 0 ? 0 : Math.min(8000, 1000 * 2 ** (recent.length - 1));
    setTimeout(() => {
      if (o.isStopping()) return;
      o.out.progress(`Restarting ${r.name}`);
      o.specFor(r)
        .then((spec) => startService(spec))
        .then(
          (next) => {
            o.running[o.running.indexOf(r)] = next;
            if (o.isStopping()) {
              void stopService(next);
              return;
            }
            o.onRestarted(next);
            o.out.progress(`  ${r.name} ready again (pid ${next.child.pid})`);
            supervise(next);
          },
          (err: unknown) => {
            process.stderr.write(`zenmesh: ${r.name} could not be restarted: ${(err as Error).message}\n`);
            restart(r);
          },
        );
    }, delay).unref();
  };
  const supervise = (r: RunningChild) => {
    r.child.once('exit', (code, signal) => {
      if (o.isStopping()) return;
      process.stderr.write(
        `zenmesh: ${r.name} exited unexpectedly (${signal ?? `code ${code}`}); see ${r.logFile}\n`,
      );
      restart(r);
    });
  };
  for (const r of o.running) supervise(r);
}
