import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadMasterKey } from '@zenmesh/crypto';
import { verifyJoinToken } from '@zenmesh/identity';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { bootstrapCompose, composeLayout } from './compose-bootstrap.js';
import { setupDatabase } from './database-setup.js';
import { checkServiceHealth, localAddress } from './health-check.js';
import { initPod } from './pod-init.js';
import { applySecretFiles } from './secret-env.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'zm-deploy-unit-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const secretFile = (name: string, text: string, mode = 0o600) => {
  const file = join(dir, name);
  writeFileSync(file, text, { mode });
  chmodSync(file, mode);
  return file;
};

describe('applySecretFiles (<NAME>_FILE)', () => {
  it('reads the file into the variable and drops the _FILE variable', () => {
    const env: NodeJS.ProcessEnv = { ZENMESH_JOIN_TOKEN_FILE: secretFile('t', 'zmjt1.abc.def\n') };
    applySecretFiles(env);
    expect(env).toEqual({ ZENMESH_JOIN_TOKEN: 'zmjt1.abc.def' });
  });

  it('refuses both forms at once, an empty, a world-readable, a missing and a symlinked file', () => {
    const good = secretFile('good', 'redis://:pw@r:6379');
    expect(() => applySecretFiles({ REDIS_URL: 'redis://x', REDIS_URL_FILE: good })).toThrow(
      'REDIS_URL and REDIS_URL_FILE are both set; give one',
    );
    expect(() => applySecretFiles({ REDIS_URL_FILE: secretFile('empty', '\n') })).toThrow(
      /REDIS_URL_FILE: .* is empty$/,
    );
    expect(() => applySecretFiles({ REDIS_URL_FILE: secretFile('open', 'x', 0o644) })).toThrow(
      /REDIS_URL_FILE: .* is readable by everyone; chmod o-r it$/,
    );
    expect(() => applySecretFiles({ DATABASE_URL_FILE: join(dir, 'nope') })).toThrow(
      /DATABASE_URL_FILE: cannot read .*nope: ENOENT$/,
    );
    symlinkSync(good, join(dir, 'link'));
    expect(() => applySecretFiles({ REDIS_URL_FILE: join(dir, 'link') })).toThrow(/is not a regular file$/);
  });
});

describe('bootstrapCompose', () => {
  const options = () => ({
    root: dir,
    trustDomain: 'zenmesh.local',
    namespace: 'zenmesh',
    tokenTtlSeconds: 600,
    redisAddress: 'redis:6379',
    postgresAddress: 'postgres:5432',
    database: 'zenmesh',
  });

  it('creates every volume once, keeps keys and passwords on a re-run, and mints fresh one-time tokens', async () => {
    const first = await bootstrapCompose(options());
    expect(first).toMatchObject({ createdMasterKey: true, createdCa: true, createdAdminKey: true });
    const l = composeLayout(dir);
    const read = (p: string) => readFileSync(p, 'utf8');
    const before = {
      key: read(join(l.caSecrets, 'master.key')),
      ca: read(join(l.caSecrets, 'ca', 'ca-state.json')),
      pw: read(join(l.postgres, 'zenmesh_app-password')),
      token: read(join(l.identity('backend'), 'join-token')),
    };
    expect(existsSync(join(l.secrets('backend'), 'master.key'))).toBe(false);
    expect(read(join(l.identity('backend'), 'pgpass'))).toBe(
      `postgres:5432:zenmesh:zenmesh_app:${before.pw}`,
    );
    expect(read(join(l.redis, 'users.acl'))).toMatch(/^user default on #[0-9a-f]{64} ~\* &\* \+@all\n$/);
    const claims = verifyJoinToken(loadMasterKey(l.caSecrets), before.token.trim());
    expect(claims.spiffeId).toBe('spiffe://zenmesh.local/ns/zenmesh/sa/backend');
    expect((statSync(join(l.identity('backend'), 'join-token')).mode & 0o777).toString(8)).toBe('600');

    const second = await bootstrapCompose(options());
    expect(second).toMatchObject({ createdMasterKey: false, createdCa: false, createdAdminKey: false });
    expect(read(join(l.caSecrets, 'master.key'))).toBe(before.key);
    expect(read(join(l.caSecrets, 'ca', 'ca-state.json'))).toBe(before.ca);
    expect(read(join(l.postgres, 'zenmesh_app-password'))).toBe(before.pw);
    expect(read(join(l.identity('backend'), 'join-token'))).not.toBe(before.token);
  });

  it('refuses master keys that differ between volumes (the CA keys are sealed under one of them)', async () => {
    await bootstrapCompose(options());
    const l = composeLayout(dir);
    writeFileSync(join(l.tokenSecrets, 'master.key'), `${Buffer.alloc(32, 7).toString('base64')}\n`, {
      mode: 0o600,
    });
    await expect(bootstrapCompose(options())).rejects.toMatchObject({
      code: 'ERR_STATE',
      message: expect.stringMatching(/master keys in .* differ; keep the one that sealed the CA keys/),
    });
  });
});

describe('initPod', () => {
  const from = () => {
    const src = join(dir, 'secret');
    mkdirSync(src);
    return src;
  };

  it("gives the backend its sealing keys, not the master key, and mints the pod's own join token", () => {
    const src = from();
    writeFileSync(join(src, 'master.key'), Buffer.alloc(32, 1).toString('base64'), { mode: 0o440 });
    const to = join(dir, 'secrets');
    const result = initPod({
      service: 'backend',
      trustDomain: 'zenmesh.local',
      namespace: 'zenmesh',
      secretsFrom: src,
      secretsTo: to,
      tokenOut: join(dir, 'join-token'),
      tokenTtlSeconds: 600,
    });
    expect(result.copied).toEqual(['message-keys.json', 'sealing-keys.json']);
    expect(existsSync(join(to, 'master.key'))).toBe(false);
    expect((statSync(join(to, 'sealing-keys.json')).mode & 0o777).toString(8)).toBe('600');
    const token = readFileSync(join(dir, 'join-token'), 'utf8').trim();
    expect(verifyJoinToken(Buffer.alloc(32, 1), token).spiffeId).toBe(
      'spiffe://zenmesh.local/ns/zenmesh/sa/backend',
    );
  });

  it('refuses a missing or malformed master key, a CA seed without state, and a token for the ca', () => {
    const src = from();
    const base = {
      trustDomain: 'zenmesh.local',
      namespace: 'zenmesh',
      secretsFrom: src,
      secretsTo: join(dir, 's'),
      tokenTtlSeconds: 600,
    };
    expect(() => initPod({ ...base, service: 'bff' })).toThrow(
      /master\.key is missing \(the master key Secret\)$/,
    );
    writeFileSync(join(src, 'master.key'), 'short');
    expect(() => initPod({ ...base, service: 'bff' })).toThrow(/must decode to 32 bytes/);
    writeFileSync(join(src, 'master.key'), Buffer.alloc(32, 1).toString('base64'));
    const seed = join(dir, 'seed');
    mkdirSync(seed);
    expect(() => initPod({ ...base, service: 'ca', caSeed: seed })).toThrow(/holds no ca-state\.json/);
    expect(() => initPod({ ...base, service: 'ca', tokenOut: join(dir, 't') })).toThrow(
      'the ca issues its own SVID; it needs no join token',
    );
  });
});

describe('checkServiceHealth', () => {
  it('maps wildcard listen addresses to loopback and refuses a malformed one', () => {
    expect(localAddress('0.0.0.0:7200')).toBe('127.0.0.1:7200');
    expect(localAddress('[::]:7200')).toBe('[::1]:7200');
    expect(localAddress('10.0.0.5:7200')).toBe('10.0.0.5:7200');
    expect(() => localAddress('nope')).toThrow('expected host:port, got "nope"');
  });

  it('names a missing variable, and reports a service without an SVID yet as unhealthy', async () => {
    await expect(checkServiceHealth('backend', {})).rejects.toThrow(
      'ZENMESH_GRPC_LISTEN: unset: the health check needs it',
    );
    const r = await checkServiceHealth('backend', {
      ZENMESH_GRPC_LISTEN: '0.0.0.0:1',
      ZENMESH_SVID_DIR: dir,
    });
    expect(r).toMatchObject({
      healthy: false,
      detail: `backend: no SVID in ${dir} yet (the service has not joined)`,
    });
    const h = await checkServiceHealth('bff', { ZENMESH_HTTP_LISTEN: '127.0.0.1:1', ZENMESH_SVID_DIR: dir });
    expect(h).toMatchObject({ healthy: false, detail: `no SVID in ${dir} yet` });
  });
});

describe('setupDatabase', () => {
  it('refuses to run as anything but a superuser (migration 0002 creates the BYPASSRLS owner role)', async () => {
    const adminUrl = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
    const { createDatabase } = await import('@zenmesh/db');
    const admin = await createDatabase({ url: adminUrl });
    await admin.exec('create role zm_deploy_not_super login nosuperuser').catch((err: unknown) => {
      if (!String(err).includes('already exists')) throw err;
    });
    await admin.close();
    const url = new URL(adminUrl);
    url.username = 'zm_deploy_not_super';
    await expect(
      setupDatabase({ adminUrl: url.toString(), passwords: { backend: 'a', token: 'b' } }),
    ).rejects.toMatchObject({
      code: 'ERR_STATE',
      message:
        'the database setup must connect as a superuser: migration 0002 creates the BYPASSRLS owner role',
    });
  });
});
