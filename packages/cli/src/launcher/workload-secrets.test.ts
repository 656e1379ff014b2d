import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BACKEND_SEALING_PURPOSES } from '@zenmesh/backend';
import {
  activateKeyVersion,
  addKeyVersion,
  INITIAL_KEYRING,
  readWorkloadKeysFile,
  workloadKeysPeers,
} from '@zenmesh/crypto';
import { spiffeIdFor } from '@zenmesh/pki';
import { TOKEN_SEALING_PURPOSE } from '@zenmesh/token';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { paths } from '../home.js';
import { rewriteWorkloadKeys, SEALING_PURPOSES, writeWorkloadSecrets } from './workload-secrets.js';

const td = { trustDomain: 'zenmesh.local', namespace: 'zenmesh' };
const id = (s: string) => spiffeIdFor(s, td);
const masterKey = Buffer.alloc(32, 3);
let home: string;
beforeEach(() => {
  home = mkdtempSync(join(tmpdir(), 'zm-workloads-'));
});
afterEach(() => rmSync(home, { recursive: true, force: true }));

describe('the launcher’s secrets layout: one directory per service, only its files', () => {
  it('gives each service its own keyring, the master key to the ca alone, sealing keys to token and backend', () => {
    writeWorkloadSecrets({ home, masterKey, ...td, state: INITIAL_KEYRING });
    const p = paths(home);
    const files = (s: string) => readdirSync(p.workload(s)).sort();
    expect(files('egress')).toEqual(['message-keys.json']);
    expect(files('ingester')).toEqual(['message-keys.json']);
    expect(files('bff')).toEqual(['message-keys.json']);
    expect(files('ca')).toEqual(['master.key', 'message-keys.json']);
    expect(files('token')).toEqual(['message-keys.json', 'sealing-keys.json']);
    expect(files('backend')).toEqual(['message-keys.json', 'sealing-keys.json']);
    // The lists the launcher derives are the ones the services open (not imported by the CLI at run time).
    expect(SEALING_PURPOSES.backend).toEqual([...BACKEND_SEALING_PURPOSES]);
    expect(SEALING_PURPOSES.token).toEqual([TOKEN_SEALING_PURPOSE]);
    for (const s of ['ca', 'token', 'backend', 'egress', 'ingester', 'bff']) {
      expect((statSync(p.workload(s)).mode & 0o777).toString(8)).toBe('700');
      expect((statSync(join(p.workload(s), 'message-keys.json')).mode & 0o777).toString(8)).toBe('600');
      expect(readWorkloadKeysFile(p.workload(s))?.workload).toBe(id(s));
    }
    const egress = readWorkloadKeysFile(p.workload('egress'));
    expect(workloadKeysPeers(egress as NonNullable<typeof egress>).sort()).toEqual(
      ['backend', 'ca', 'ingester'].map(id).sort(),
    );
  });

  it('moves an older launcher’s shared state to its owner and removes a master key where none belongs', () => {
    const p = paths(home);
    mkdirSync(join(p.secrets, 'ca'), { recursive: true });
    writeFileSync(join(p.secrets, 'ca', 'ca-state.json'), '{}');
    writeFileSync(join(p.secrets, 'token-signing-keys.json'), '{}');
    mkdirSync(p.workload('egress'), { recursive: true });
    writeFileSync(join(p.workload('egress'), 'master.key'), 'left over');
    mkdirSync(p.workload('backend'), { recursive: true });
    writeFileSync(join(p.workload('backend'), 'master.key'), 'left over');
    writeWorkloadSecrets({ home, masterKey, ...td, state: INITIAL_KEYRING });
    expect(existsSync(join(p.workload('ca'), 'ca', 'ca-state.json'))).toBe(true);
    expect(existsSync(join(p.workload('token'), 'token-signing-keys.json'))).toBe(true);
    expect(readdirSync(p.secrets)).toEqual([]);
    expect(existsSync(join(p.workload('egress'), 'master.key'))).toBe(false);
    expect(existsSync(join(p.workload('backend'), 'master.key'))).toBe(false);
  });

  it('rewrites every keyring for a rotation, same workload and peers, new versions', () => {
    writeWorkloadSecrets({ home, masterKey, ...td, state: INITIAL_KEYRING });
    const two = activateKeyVersion(addKeyVersion(INITIAL_KEYRING).state, 2, 60_000);
    expect(rewriteWorkloadKeys(home, masterKey, two)).toEqual([
      'backend',
      'bff',
      'ca',
      'egress',
      'ingester',
      'token',
    ]);
    const egress = readWorkloadKeysFile(paths(home).workload('egress'));
    expect(egress?.active).toBe(2);
    expect(egress?.keys.map((k) => k.version)).toEqual([1, 2]);
    expect(workloadKeysPeers(egress as NonNullable<typeof egress>).sort()).toEqual(
      ['backend', 'ca', 'ingester'].map(id).sort(),
    );
    expect(rewriteWorkloadKeys(join(home, 'none'), masterKey, two)).toEqual([]);
  });
});
