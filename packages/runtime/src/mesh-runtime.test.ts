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
  ZENMESH_REPLICAS: 1,
};

describe('startMessageIntegrity', () => {
  it('passes ZENMESH_INSECURE_DISABLE_HMAC through to the integrity', async () => {
    const normal = await startMessageIntegrity(integrityEnv, logger, 'egress');
    expect(normal.insecureSkipVerify).toBeUndefined();
    await normal.close();
    const weakened = await startMessageIntegrity(
      { ...integrityEnv, ZENMESH_INSECURE_DISABLE_HMAC: true },
      logger,
      'egress',
    );
    expect(weakened.insecureSkipVerify).toBe(true);
    await weakened.close();
  });
});

describe('shared nonce store with replicas (issue 12 defect 11)', () => {
  it('refuses to start more than one instance without REDIS_URL, naming the fix', async () => {
    await expect(
      startMessageIntegrity({ ...integrityEnv, ZENMESH_REPLICAS: 2 }, logger, 'ingester'),
    ).rejects.toThrow(
      /^REDIS_URL: unset: ZENMESH_REPLICAS=2 runs more than one ingester, and replicas must share one nonce and dedup store; set REDIS_URL \(or ZENMESH_REPLICAS=1\)$/,
    );
    await expect(
      startMeshRuntime(
        'backend',
        { ...integrityEnv, ZENMESH_REPLICAS: 3, ZENMESH_NAMESPACE: 'zenmesh', ZENMESH_TLS_CA: 'x' },
        logger,
      ),
    ).rejects.toMatchObject({ code: 'ERR_CONFIG', message: expect.stringMatching(/more than one backend/) });
  });

  it('starts replicas with a shared Redis store, and one instance without', async () => {
    const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
    const shared = await startMessageIntegrity(
      { ...integrityEnv, ZENMESH_REPLICAS: 2, REDIS_URL: redisUrl, ZENMESH_REDIS_PREFIX: 'zmtest:replicas:' },
      logger,
      'ingester',
    );
    expect(await shared.nonces.waitUntilReady(5000)).toBe(true);
    // Shared: a nonce claimed through one instance's store is a replay at another's.
    const other = await startMessageIntegrity(
      { ...integrityEnv, ZENMESH_REPLICAS: 2, REDIS_URL: redisUrl, ZENMESH_REDIS_PREFIX: 'zmtest:replicas:' },
      logger,
      'ingester',
    );
    const nonce = randomBytes(16).toString('hex');
    expect(await shared.nonces.claim(nonce, 10_000)).toBe(true);
    expect(await other.nonces.claim(nonce, 10_000)).toBe(false);
    await shared.close();
    await other.close();
    const single = await startMessageIntegrity(integrityEnv, logger, 'ingester');
    await single.close();
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
