import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger } from '@zenmesh/telemetry';
import { afterAll, describe, expect, it } from 'vitest';
import { startMeshRuntime, startMessageIntegrity } from './index.js';

const logger = createLogger('mesh-runtime-test', { level: 'silent' });
const secretsDir = mkdtempSync(join(tmpdir(), 'zm-mesh-runtime-'));
writeFileSync(join(secretsDir, 'master.key'), randomBytes(32).toString('base64'), { mode: 0o600 });
afterAll(() => rmSync(secretsDir, { recursive: true, force: true }));

const integrityEnv = {
  ZENMESH_TRUST_DOMAIN: 'zenmesh.local',
  ZENMESH_SECRETS_DIR: secretsDir,
  ZENMESH_INSECURE_DISABLE_HMAC: false,
};

describe('startMessageIntegrity', () => {
  it('passes ZENMESH_INSECURE_DISABLE_HMAC through to the integrity', async () => {
    const normal = await startMessageIntegrity(integrityEnv, logger);
    expect(normal.insecureSkipVerify).toBeUndefined();
    await normal.close();
    const weakened = await startMessageIntegrity(
      { ...integrityEnv, ZENMESH_INSECURE_DISABLE_HMAC: true },
      logger,
    );
    expect(weakened.insecureSkipVerify).toBe(true);
    await weakened.close();
  });
});

describe('startMeshRuntime', () => {
  it('refuses an identity with neither a join token nor PEM files, with one line', async () => {
    await expect(
      startMeshRuntime(
        'backend',
        { ...integrityEnv, ZENMESH_NAMESPACE: 'zenmesh', ZENMESH_TLS_CA: join(secretsDir, 'ca.pem') },
        logger,
      ),
    ).rejects.toThrow(
      /^ZENMESH_JOIN_TOKEN: unset: give a join token with ZENMESH_CA_ADDR and ZENMESH_CA_JOIN_ADDR, or ZENMESH_TLS_CERT and ZENMESH_TLS_KEY$/,
    );
  });
});
