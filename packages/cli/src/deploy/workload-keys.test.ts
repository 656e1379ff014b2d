import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  activateKeyVersion,
  addKeyVersion,
  createMessageKeyring,
  createWorkloadKeyring,
  INITIAL_KEYRING,
  readWorkloadKeysFile,
  workloadKeysPeers,
} from '@zenmesh/crypto';
import { verifyJoinToken } from '@zenmesh/identity';
import { spiffeIdFor } from '@zenmesh/pki';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { bootstrapCompose, composeLayout } from './compose-bootstrap.js';
import { initPod } from './pod-init.js';

const td = { trustDomain: 'zenmesh.local', namespace: 'zenmesh' };
const id = (service: string) => spiffeIdFor(service, td);
const MASTER = Buffer.alloc(32, 1);

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'zm-workload-keys-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const secretVolume = (keyring?: unknown) => {
  const src = join(dir, 'secret');
  mkdirSync(src, { recursive: true });
  writeFileSync(join(src, 'master.key'), MASTER.toString('base64'), { mode: 0o440 });
  if (keyring) writeFileSync(join(src, 'hmac-keyring.json'), JSON.stringify(keyring), { mode: 0o440 });
  return src;
};

describe('initPod: each pod gets its own pair keys (issue 12 defect 10)', () => {
  it('gives egress its pair keys and no master key, and still mints its join token in the init container', () => {
    const to = join(dir, 'egress');
    mkdirSync(to);
    // A master key left over in a reused directory is removed.
    writeFileSync(join(to, 'master.key'), MASTER.toString('base64'), { mode: 0o600 });
    const result = initPod({
      service: 'egress',
      ...td,
      secretsFrom: secretVolume(),
      secretsTo: to,
      tokenOut: join(dir, 'join-token'),
      tokenTtlSeconds: 600,
    });
    expect(result.copied).toEqual(['message-keys.json']);
    expect(readdirSync(to)).toEqual(['message-keys.json']);
    expect((statSync(join(to, 'message-keys.json')).mode & 0o777).toString(8)).toBe('600');
    const keys = readWorkloadKeysFile(to);
    expect(keys?.workload).toBe(id('egress'));
    expect(workloadKeysPeers(keys as NonNullable<typeof keys>).sort()).toEqual(
      [id('backend'), id('ca'), id('ingester')].sort(),
    );
    const token = (result.joinToken as { spiffeId: string }).spiffeId;
    expect(token).toBe(id('egress'));
    const text = readFileSync(join(dir, 'join-token'), 'utf8').trim();
    expect(verifyJoinToken(MASTER, text).spiffeId).toBe(id('egress'));
  });

  it('derives the keys of every live version in the Secret, equal to what the master key gives', () => {
    const two = activateKeyVersion(addKeyVersion(INITIAL_KEYRING).state, 2, 60_000);
    const to = join(dir, 'bff');
    initPod({ service: 'bff', ...td, secretsFrom: secretVolume(two), secretsTo: to, tokenTtlSeconds: 600 });
    expect(existsSync(join(to, 'hmac-keyring.json'))).toBe(false);
    const own = createWorkloadKeyring({ secretsDir: to, cluster: td.trustDomain });
    const full = createMessageKeyring({ masterKey: MASTER, cluster: td.trustDomain, state: two });
    expect(own.state()).toEqual(two);
    const pair = { sender: id('bff'), receiver: id('backend') };
    for (const keyId of ['v1', 'v2']) {
      const mine = own.verificationKey(keyId, pair)?.export();
      expect(mine?.equals(full.verificationKey(keyId, pair)?.export() as Buffer)).toBe(true);
    }
    // The bff has no key for a pair it is not part of.
    expect(own.verificationKey('v2', { sender: id('egress'), receiver: id('backend') })).toBeUndefined();
  });

  it('refuses a broken keyring in the Secret', () => {
    expect(() =>
      initPod({
        service: 'bff',
        ...td,
        secretsFrom: secretVolume({ active: 3, keys: [{ version: 1 }] }),
        secretsTo: join(dir, 'x'),
        tokenTtlSeconds: 600,
      }),
    ).toThrow(/hmac-keyring\.json is not a valid keyring$/);
  });
});

describe('bootstrapCompose: one secrets volume per service', () => {
  it('writes each service its keyring, sealing keys to token and backend, the master key to the ca alone', async () => {
    await bootstrapCompose({
      root: dir,
      ...td,
      tokenTtlSeconds: 600,
      redisAddress: 'redis:6379',
      postgresAddress: 'postgres:5432',
      database: 'zenmesh',
    });
    const l = composeLayout(dir);
    const files = (service: 'ca' | 'token' | 'backend' | 'egress' | 'ingester' | 'bff') =>
      readdirSync(l.secrets(service)).sort();
    expect(files('egress')).toEqual(['message-keys.json']);
    expect(files('ingester')).toEqual(['message-keys.json']);
    expect(files('bff')).toEqual(['message-keys.json']);
    expect(files('backend')).toEqual(['message-keys.json', 'sealing-keys.json']);
    expect(files('token')).toEqual(['message-keys.json', 'sealing-keys.json']);
    expect(files('ca')).toEqual(['ca', 'master.key', 'message-keys.json', 'redis-url']);
    expect(readWorkloadKeysFile(l.secrets('ingester'))?.workload).toBe(id('ingester'));
  });
});
