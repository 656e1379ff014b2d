// Proves the compose file works without a Docker engine: every service of deploy/compose/compose.yaml runs
// from the image's entry point (a real `pnpm deploy --prod` tree, as the Dockerfile builds /app) with exactly
// the environment, command, user and volumes compose gives it, in depends_on order, each waited for by its
// own compose healthcheck. Then a signed webhook goes in at the ingester and comes out signed at a target.
// The substitutions (no container isolation, the machine's Postgres, a counting OTLP sink for Jaeger) are
// listed in support/compose-runner.ts.
import { execFileSync } from 'node:child_process';
import { createHmac, randomBytes } from 'node:crypto';
import { chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTarget } from '../support/target.js';
import { composeConfig, REPO, startOrder } from './support/compose-file.js';
import { type ComposeRunner, createComposeRunner } from './support/compose-runner.js';

const ADMIN_URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const database = `zm_compose_${randomBytes(5).toString('hex')}`;
const root = mkdtempSync(join(tmpdir(), 'zm-compose-'));
const appDir = join(root, 'app');
let runner: ComposeRunner;
let target: Awaited<ReturnType<typeof startTarget>>;
let cli: (...args: string[]) => unknown;

const sign = (secret: string, body: string) =>
  `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;

describe('docker compose, run outside Docker', () => {
  beforeAll(async () => {
    target = await startTarget();
    // What a user sets for the tour: the target lives on the host, reached as host.docker.internal.
    const config = composeConfig({
      ZENMESH_POSTGRES_DB: database,
      ZENMESH_EGRESS_ALLOW_CIDRS: '127.0.0.0/8',
      ZENMESH_LOG_LEVEL: 'info',
    });
    // The image's /app: the CLI's production dependencies, every service included (Dockerfile, build stage).
    execFileSync('pnpm', ['--filter', '@zenmesh/cli', 'deploy', '--prod', '--legacy', appDir], {
      cwd: REPO,
      stdio: 'pipe',
    });
    chmodSync(appDir, 0o755);
    runner = createComposeRunner({ config, root, appDir, adminDatabaseUrl: ADMIN_URL });
    for (const name of startOrder(config)) await runner.start(name);
    const key = readFileSync(
      runner.hostPath('init', '/var/lib/zenmesh/init/operator/admin-api-key'),
      'utf8',
    ).trim();
    const api = `http://${runner.ips.bff}:3000`;
    cli = (...args) =>
      JSON.parse(
        execFileSync(
          process.execPath,
          [join(appDir, 'dist/bin.js'), '--json', '--api-url', api, '--api-key', key, ...args],
          {
            encoding: 'utf8',
          },
        ),
      );
  }, 300_000);

  afterAll(async () => {
    await runner?.stopAll();
    await target?.close();
    const admin = new pg.Client({ connectionString: ADMIN_URL });
    await admin.connect();
    await admin.query(`drop database if exists ${database} with (force)`);
    await admin.end();
    rmSync(root, { recursive: true, force: true });
  }, 60_000);

  it('brings every service up healthy, each checked by its own compose healthcheck', async () => {
    for (const name of ['ca', 'token', 'backend', 'egress', 'ingester', 'bff']) {
      const { code, output } = await runner.healthcheckOnce(name);
      expect({ name, code }).toEqual({ name, code: 0 });
      expect(output).toContain(`${name}: healthy`);
    }
    expect((await runner.healthcheckOnce('backend')).output).toContain('gRPC health over mTLS');
  });

  it('keeps secrets in files the service user alone can read', () => {
    for (const [service, path] of [
      ['init', '/var/lib/zenmesh/init/ca-secrets/master.key'],
      ['backend', '/var/lib/zenmesh/secrets/sealing-keys.json'],
      ['egress', '/var/lib/zenmesh/secrets/message-keys.json'],
      ['bff', '/var/lib/zenmesh/secrets/message-keys.json'],
      ['backend', '/var/lib/zenmesh/identity/join-token'],
      ['backend', '/var/lib/zenmesh/identity/pgpass'],
      ['backend', '/var/lib/zenmesh/identity/svid-key.pem'],
      ['token', '/var/lib/zenmesh/identity/redis-url'],
    ] as const) {
      const st = statSync(runner.hostPath(service, path));
      expect({ path, mode: (st.mode & 0o777).toString(8) }).toEqual({ path, mode: '600' });
      if (process.getuid?.() === 0) expect(st.uid).toBe(10001);
    }
  });

  it('gives every service but the ca its own keys and no master key (issue 12 defect 10)', () => {
    for (const service of ['egress', 'ingester', 'bff'] as const) {
      const dir = runner.hostPath(service, '/var/lib/zenmesh/secrets');
      expect([service, readdirSync(dir).sort()]).toEqual([service, ['message-keys.json']]);
    }
    // backend and token seal with their own box keys; only the ca keeps the master key.
    for (const service of ['backend', 'token'] as const) {
      const names = readdirSync(runner.hostPath(service, '/var/lib/zenmesh/secrets'));
      expect([service, names.includes('master.key'), names.includes('sealing-keys.json')]).toEqual([
        service,
        false,
        true,
      ]);
    }
  });

  it('connects the backend and the token service as their own roles, neither superuser nor BYPASSRLS', async () => {
    // The token service's /healthz queries its database, so its pool holds a connection right now.
    expect((await fetch(`http://${runner.ips.token}:4000/healthz`)).status).toBe(200);
    const admin = new pg.Client({ connectionString: ADMIN_URL });
    await admin.connect();
    try {
      const { rows } = await admin.query<{ usename: string; rolsuper: boolean; rolbypassrls: boolean }>(
        `select distinct a.usename, r.rolsuper, r.rolbypassrls from pg_stat_activity a
           join pg_roles r on r.rolname = a.usename where a.datname = $1 and a.pid <> pg_backend_pid()`,
        [database],
      );
      expect(rows.map((r) => r.usename).sort()).toEqual(['zenmesh_app', 'zenmesh_token']);
      expect(rows.every((r) => !r.rolsuper && !r.rolbypassrls)).toBe(true);
    } finally {
      await admin.end();
    }
  });

  it('delivers a signed webhook end to end, signed per Standard Webhooks', async () => {
    cli('tenant', 'create', 'acme');
    const hook = `http://host.docker.internal:${new URL(target.url).port}/hooks`;
    const endpoint = cli('endpoint', 'create', '--tenant', 'acme', '--url', hook) as {
      signingSecret: string;
    };
    const source = cli(
      'source',
      'create',
      '--tenant',
      'acme',
      '--provider',
      'generic',
      '--secret',
      's3cret',
      // Signs the body alone (the explicit opt-out of a signed timestamp): simpler senders below.
      '--no-timestamp',
    ) as {
      source: { id: string };
      ingestUrl: string;
    };
    // The URL the bff prints is the published one (compose's ZENMESH_INGEST_PUBLIC_URL).
    expect(source.ingestUrl).toBe(`http://localhost:8080/v1/webhooks/${source.source.id}`);
    const body = JSON.stringify({ order: 42 });
    const res = await fetch(`http://${runner.ips.ingester}:8080/v1/webhooks/${source.source.id}`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'x-event-type': 'order.created',
        'x-signature': sign('s3cret', body),
      },
      body,
    });
    expect(res.status).toBe(202);
    const [delivered] = await target.waitFor(1, 30_000);
    const verified = new Webhook(endpoint.signingSecret).verify(delivered?.body.toString('utf8') ?? '', {
      'webhook-id': String(delivered?.headers['webhook-id']),
      'webhook-timestamp': String(delivered?.headers['webhook-timestamp']),
      'webhook-signature': String(delivered?.headers['webhook-signature']),
    });
    expect(verified).toEqual({ order: 42 });
  });

  it('restarts a service after its join token was spent: it resumes from the SVID in its volume', async () => {
    expect(await runner.stop('backend')).toBe(0);
    await runner.start('backend');
    expect(runner.tail('backend', 200)).not.toContain('join_token_used');
  });

  it('reports to the CA an address its rotation canary probe can dial (the service name, not 0.0.0.0)', () => {
    const state = JSON.parse(
      readFileSync(runner.hostPath('ca', '/var/lib/zenmesh/secrets/ca/ca-state.json'), 'utf8'),
    ) as { servingAddresses: Record<string, string> };
    const id = (name: string) => `spiffe://zenmesh.local/ns/zenmesh/sa/${name}`;
    expect({
      token: state.servingAddresses[id('token')],
      backend: state.servingAddresses[id('backend')],
      egress: state.servingAddresses[id('egress')],
    }).toEqual({ token: 'token:7100', backend: 'backend:7200', egress: 'egress:7300' });
  });

  it('serves /metrics on 9464 of every mesh service, counting the delivery it made', async () => {
    for (const name of ['ca', 'token', 'backend', 'egress', 'ingester', 'bff']) {
      const text = await (await fetch(`http://${runner.ips[name]}:9464/metrics`)).text();
      expect([name, text]).toEqual([name, expect.stringContaining(`service_name="zenmesh-${name}"`)]);
    }
    const egress = await (await fetch(`http://${runner.ips.egress}:9464/metrics`)).text();
    expect(egress).toMatch(
      /^zenmesh_delivery_attempts_total\{outcome="success",service_name="zenmesh-egress"\} 1$/m,
    );
  });

  it('exports traces to the OTLP endpoint compose names (jaeger:4318)', async () => {
    // Batches leave every few seconds; stopping a service flushes what it holds.
    await runner.stop('ingester');
    expect(runner.otlp.requests).toBeGreaterThan(0);
  });
});
