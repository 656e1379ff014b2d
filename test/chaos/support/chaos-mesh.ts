import { cpSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createTestDatabase } from '../../support/database.js';
import { type RunningMesh, startMesh } from '../../support/mesh.js';
import { RESULTS_DIR } from './results.js';

export interface ChaosMesh {
  mesh: RunningMesh;
  /** The tenant's ingest URL (through the ingesters' balancer when they are replicated). */
  ingestUrl: string;
  sourceSecret: string;
  /** The Redis key prefix the mesh was given (an extra process joining it uses the same). */
  redisPrefix: string;
  /** Adds an endpoint of the tenant at `url`; resolves with its id and signing secret. */
  addEndpoint(url: string): Promise<{ id: string; signingSecret: string }>;
  /** pid of a process by its name in endpoints.json (`egress`, `ingester-1`, …). */
  pid(name: string): number;
  /** SIGKILLs `name`, then waits (bounded) for the launcher to report its replacement: ms until then. */
  killAndAwaitRestart(name: string): Promise<number>;
  stop(): Promise<number | null>;
}

export interface ChaosMeshOptions {
  /** Scratch database prefix; ignored when `env.DATABASE_URL` is given. */
  dbPrefix: string;
  env?: NodeJS.ProcessEnv;
  /** `ingester=2,backend=2,egress=2`, or none for one of each. */
  replicas?: string;
}

/** `zenmesh up` on a fresh scratch database (or the one given), with one tenant and one generic source. */
export async function startChaosMesh(o: ChaosMeshOptions): Promise<ChaosMesh> {
  const db = o.env?.DATABASE_URL ? undefined : await createTestDatabase(o.dbPrefix);
  const redisPrefix = `zmchaos:${o.dbPrefix}:${process.pid}:`;
  const mesh = await startMesh(
    {
      LOG_LEVEL: 'warn',
      ZENMESH_REDIS_PREFIX: redisPrefix,
      ...(db ? { DATABASE_URL: db.url } : {}),
      ...o.env,
    },
    120_000,
    o.replicas ? ['--replicas', o.replicas] : [],
  );
  const sourceSecret = `chaos-${o.dbPrefix}-source-secret`;
  await mesh.cli('tenant', 'create', 'chaos');
  const s = await mesh.cli<{ source: { id: string } }>(
    'source',
    'create',
    '--tenant',
    'chaos',
    '--provider',
    'generic',
    '--secret',
    sourceSecret,
    // The senders sign the body alone (traffic.ts): the ingester's clock skew is what some scenarios test.
    '--no-timestamp',
  );
  const pid = (name: string) => mesh.readEndpoints().pids[name] ?? 0;
  return {
    mesh,
    ingestUrl: `${mesh.endpoints.ingester}/v1/webhooks/${s.source.id}`,
    sourceSecret,
    redisPrefix,
    async addEndpoint(url) {
      const e = await mesh.cli<{ endpoint: { id: string }; signingSecret: string }>(
        'endpoint',
        'create',
        '--tenant',
        'chaos',
        '--url',
        url,
      );
      return { id: e.endpoint.id, signingSecret: e.signingSecret };
    },
    pid,
    async killAndAwaitRestart(name) {
      const before = pid(name);
      if (before <= 0) throw new Error(`no process named ${name} in endpoints.json`);
      const killedAt = performance.now();
      process.kill(before, 'SIGKILL');
      const deadline = Date.now() + 90_000;
      while (pid(name) === before) {
        if (Date.now() > deadline) throw new Error(`${name} was not restarted within 90 s`);
        await new Promise((r) => setTimeout(r, 100));
      }
      return performance.now() - killedAt;
    },
    async stop() {
      // The mesh's logs outlive it (its state directory does not): test/chaos/.results/logs/<prefix>/.
      cpSync(join(mesh.home, 'logs'), join(RESULTS_DIR, 'logs', o.dbPrefix), { recursive: true });
      const tail = mesh.output().trim().split('\n').slice(-20).join('\n');
      writeFileSync(join(RESULTS_DIR, 'logs', o.dbPrefix, 'launcher-output.txt'), `${tail}\n`);
      const code = await mesh.stop();
      await db?.drop();
      return code;
    },
  };
}
