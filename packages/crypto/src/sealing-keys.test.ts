import { randomBytes } from 'node:crypto';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  createSecretBox,
  deriveSealingKeys,
  openSecretBoxes,
  SEALING_KEYS_FILE,
  writeSealingKeysFile,
} from './index.js';

const master = randomBytes(32);
let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'zm-sealing-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('sealing keys instead of the master key', () => {
  it('opens what the master key sealed, for the purposes it holds, and nothing else', () => {
    const sealed = createSecretBox(master, 'source-secret').seal('whsec_1', 'src_1');
    writeSealingKeysFile(dir, deriveSealingKeys(master, ['source-secret', 'endpoint-secret']));
    const boxes = openSecretBoxes(dir);
    expect(boxes('source-secret').open(sealed, 'src_1')).toBe('whsec_1');
    // Another purpose's key does not open it, and a purpose not delivered is refused at once.
    expect(() => boxes('endpoint-secret').open(sealed, 'src_1')).toThrow(
      expect.objectContaining({ code: 'ERR_SECRET_BOX_OPEN' }),
    );
    expect(() => boxes('ca-key')).toThrow(expect.objectContaining({ code: 'ERR_SEALING_KEY_MISSING' }));
    // And the other way round: sealed with the delivered key, opened with the master key.
    const back = boxes('endpoint-secret').seal('x', 'ep_1');
    expect(createSecretBox(master, 'endpoint-secret').open(back, 'ep_1')).toBe('x');
  });

  it('falls back to master.key, and refuses a directory with neither, a loose mode and a bad file', () => {
    expect(() => openSecretBoxes(dir)).toThrow(
      expect.objectContaining({
        code: 'ERR_MASTER_KEY_UNREADABLE',
        message: expect.stringContaining('neither'),
      }),
    );
    writeFileSync(join(dir, 'master.key'), master.toString('base64'), { mode: 0o600 });
    const sealed = createSecretBox(master, 'token-service').seal('k', 'a');
    expect(openSecretBoxes(dir)('token-service').open(sealed, 'a')).toBe('k');
    writeSealingKeysFile(dir, deriveSealingKeys(master, ['token-service']));
    chmodSync(join(dir, SEALING_KEYS_FILE), 0o644);
    expect(() => openSecretBoxes(dir)).toThrow(/readable by group or others \(mode 644\)/);
    writeFileSync(join(dir, SEALING_KEYS_FILE), JSON.stringify({ format: 'x', keys: {} }), { mode: 0o600 });
    chmodSync(join(dir, SEALING_KEYS_FILE), 0o600);
    expect(() => openSecretBoxes(dir)).toThrow(/format must be zenmesh-sealing-keys-v1/);
  });
});
