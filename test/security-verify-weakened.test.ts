import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase } from './support/database.js';
import { type RunningMesh, startMesh } from './support/mesh.js';
import { cleanRedisPrefix, randomPrefix } from './support/security-kit.js';

// One service weakened on purpose (egress stops verifying message signatures): `zenmesh verify` must fail
// and name exactly the cells that no longer hold — and no other.
const REDIS = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const prefix = randomPrefix('weak');
let db: Awaited<ReturnType<typeof createTestDatabase>>;
let mesh: RunningMesh;

beforeAll(async () => {
  db = await createTestDatabase();
  mesh = await startMesh({
    DATABASE_URL: db.url,
    REDIS_URL: REDIS,
    ZENMESH_REDIS_PREFIX: prefix,
    ZENMESH_INSECURE_DISABLE_HMAC: 'egress',
  });
}, 90_000);

afterAll(async () => {
  const code = await mesh?.stop();
  await db?.drop();
  await cleanRedisPrefix(REDIS, prefix);
  expect(code).toBe(0);
}, 60_000);

describe('zenmesh verify on a weakened mesh', () => {
  it('warns loudly at start-up', () => {
    expect(mesh.output()).toMatch(/WARNING: message signatures are NOT verified by egress/);
  });

  it('exits 1 and reports exactly the cells of the weakened server', async () => {
    const r = await mesh.cliRaw('verify', '--json');
    expect(r.code).toBe(1);
    const report = JSON.parse(r.stdout) as {
      ok: boolean;
      failures: Array<{ flow: string; probe: string; observed: string }>;
    };
    expect(report.ok).toBe(false);
    expect(report.failures.map((f) => `${f.flow}: ${f.probe}`)).toEqual([
      'ingester → egress: no_hmac',
      'ingester → egress: bad_hmac',
      'ingester → egress: stale_timestamp',
      'ingester → egress: replayed_nonce',
      'ingester → egress: tampered_metadata',
      'ingester → egress: other_service_key',
    ]);
    // The evidence: each attack was served.
    for (const f of report.failures) expect(f.observed).toBe('OK (served)');
  });

  it('names the failing cells in the human output too', async () => {
    const r = await mesh.cliRaw('verify');
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('6 of 83 cells FAIL:');
    expect(r.stdout).toMatch(
      /ingester → egress no_hmac: expected UNAUTHENTICATED missing_signature, observed OK/,
    );
    expect(r.stdout).toMatch(
      /ingester → egress replayed_nonce: expected UNAUTHENTICATED replayed_nonce, observed OK/,
    );
  });
});
