// Issue 12 defect 10: the token service is given the box key of its own purpose (sealing-keys.json), not the
// master key, and opens exactly what a master-key deployment sealed.
import { randomBytes } from 'node:crypto';
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deriveSealingKeys, openSecretBoxes, writeSealingKeysFile } from '@zenmesh/crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { TOKEN_SEALING_PURPOSE } from './oauth-server.js';
import { openSigningKeyRing, SIGNING_KEYS_FILE } from './signing-keys.js';

const dirs: string[] = [];
const tmp = () => {
  const d = mkdtempSync(join(tmpdir(), 'zm-token-sealing-'));
  dirs.push(d);
  return d;
};
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe('the token service without the master key', () => {
  it('opens the signing keys sealed under the master key with its sealing-keys.json alone', async () => {
    const master = randomBytes(32);
    const before = tmp();
    writeFileSync(join(before, 'master.key'), master.toString('base64'), { mode: 0o600 });
    const options = { alg: 'ES256' as const, retiredKeyTtlMs: 60_000 };
    const old = await openSigningKeyRing({
      ...options,
      secretsDir: before,
      box: openSecretBoxes(before)(TOKEN_SEALING_PURPOSE),
    });
    const after = tmp();
    copyFileSync(join(before, SIGNING_KEYS_FILE), join(after, SIGNING_KEYS_FILE));
    writeSealingKeysFile(after, deriveSealingKeys(master, [TOKEN_SEALING_PURPOSE]));
    const now = await openSigningKeyRing({
      ...options,
      secretsDir: after,
      box: openSecretBoxes(after)(TOKEN_SEALING_PURPOSE),
    });
    expect(now.current().kid).toBe(old.current().kid);
    // A sealing file for the backend's purposes only does not give the token service its key.
    const wrong = tmp();
    writeSealingKeysFile(wrong, deriveSealingKeys(master, ['source-secret']));
    expect(() => openSecretBoxes(wrong)(TOKEN_SEALING_PURPOSE)).toThrow(
      expect.objectContaining({ code: 'ERR_SEALING_KEY_MISSING' }),
    );
  });
});
