// Issue 14, clock skew: a service whose clock runs up to the HMAC window (±300 s) behind the CA must accept
// a peer SVID issued just now, so that the whole window the message signatures tolerate is usable. With the
// old 60 s backdate an ingester 2 min behind refused a freshly renewed backend SVID (`svid_not_yet_valid`)
// and answered ~1000 × 503 in the chaos run. Real certificates (our CA), the real per-call peer guard, a
// frozen clock each side; OpenSSL judges the same dates at the handshake (`x509 -checkend` is the wrong way
// round for notBefore, so `openssl verify -attime` is the independent check).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_WINDOW_SECONDS } from '@zenmesh/crypto';
import { createPeerGuard, createRevocationList } from '@zenmesh/identity';
import {
  CLOCK_SKEW_TOLERANCE_MS,
  createCertificateAuthority,
  issueSvidWithKey,
  spiffeIdFor,
} from '@zenmesh/pki';
import { afterAll, describe, expect, it } from 'vitest';

const TD = 'zenmesh.local';
const ISSUED_AT = new Date('2026-06-01T12:00:00Z');
const dir = mkdtempSync(join(tmpdir(), 'zm-skew-svid-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function freshSvid() {
  // The CA itself was made a moment before: a just-rotated root is the worst case for a slow clock.
  const ca = await createCertificateAuthority({ trustDomain: TD, now: new Date(ISSUED_AT.getTime() - 1000) });
  const svid = await issueSvidWithKey({ ca, spiffeId: spiffeIdFor('backend'), now: ISSUED_AT });
  return { ca, svid };
}

const guardAt = (skewMs: number) =>
  createPeerGuard({
    trustDomain: TD,
    revocations: createRevocationList(),
    now: () => new Date(ISSUED_AT.getTime() + skewMs),
  });

describe('SVID backdate covers the tolerated clock skew', () => {
  it('backdates notBefore by exactly the HMAC window, no more', () => {
    expect(CLOCK_SKEW_TOLERANCE_MS).toBe(DEFAULT_WINDOW_SECONDS * 1000);
  });

  it.each([
    [-120_000, true],
    [-(CLOCK_SKEW_TOLERANCE_MS - 1000), true],
    [120_000, true],
    [-(CLOCK_SKEW_TOLERANCE_MS + 60_000), false],
  ])('a verifier %i ms off the CA accepts a just-issued SVID: %s', async (skewMs, ok) => {
    const { svid } = await freshSvid();
    const verdict = guardAt(skewMs).verify(svid.certPem);
    if (ok) expect(verdict).toMatchObject({ ok: true, spiffeId: spiffeIdFor('backend') });
    else expect(verdict).toMatchObject({ ok: false, reason: 'svid_not_yet_valid' });
  });

  it('OpenSSL, at a time 2 min before issuance, accepts the chain (root included)', async () => {
    const { ca, svid } = await freshSvid();
    const root = join(dir, 'root.pem');
    const leaf = join(dir, 'leaf.pem');
    writeFileSync(root, ca.certPem);
    writeFileSync(leaf, svid.certPem);
    const verifyAt = (t: Date) =>
      execFileSync(
        'openssl',
        ['verify', '-attime', String(Math.floor(t.getTime() / 1000)), '-CAfile', root, leaf],
        { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] },
      );
    expect(verifyAt(new Date(ISSUED_AT.getTime() - 120_000))).toContain('OK');
    expect(() => verifyAt(new Date(ISSUED_AT.getTime() - CLOCK_SKEW_TOLERANCE_MS - 60_000))).toThrow(
      /not yet valid/,
    );
  });
});
