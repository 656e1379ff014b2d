// Per-account exponential backoff on failed logins and TOTP codes (issue 12, defect 4, token side): the
// attacks go through the real login page, from changing client IPs, in parallel, and over gRPC.
import { Code } from '@zenmesh/rpc';
import * as oidc from 'openid-client';
import { TOTP } from 'otpauth';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_BACKOFF, lockSeconds } from './login-backoff.js';
import {
  cookiePairs,
  PASSWORD,
  previousStepCode,
  startTokenHarness,
  type TokenHarness,
} from './test-kit/token-harness.js';

let h: TokenHarness;
let config: oidc.Configuration;
// Small numbers so the lock's cap can be waited out: 2 free failures, then 1 s, capped at 2 s.
const POLICY = { freeFailures: 2, baseSec: 1, maxSec: 2, forgetAfterSec: 3600 };

beforeAll(async () => {
  h = await startTokenHarness('token_backoff', { loginBackoff: POLICY, trustedProxies: ['127.0.0.1'] });
  ({ config } = await h.dashboard());
});
afterAll(async () => {
  await h?.stop();
});

let ipSeq = 0;
/** Every attempt from a different client IP (X-Forwarded-For through a trusted proxy). */
const attempt = (username: string, extra: { password?: string; totp?: string; cookie?: string } = {}) =>
  h.login(config, {
    username,
    verifier: oidc.randomPKCECodeVerifier(),
    ip: `203.0.113.${++ipSeq % 250}`,
    ...extra,
  });
const wrong = (username: string) => attempt(username, { password: 'wrong password!!' });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('the backoff schedule', () => {
  it('grows exponentially after the free failures and is capped', () => {
    expect(Array.from({ length: 16 }, (_, i) => lockSeconds(i + 1, DEFAULT_BACKOFF))).toEqual([
      0, 0, 0, 0, 2, 4, 8, 16, 32, 64, 128, 256, 512, 900, 900, 900,
    ]);
  });
});

describe('per-account backoff on the login page', () => {
  it('locks the account whatever IP the attempts come from, answering 429 with Retry-After', async () => {
    const user = await h.newUser();
    expect((await wrong(user.username)).status).toBe(401);
    expect((await wrong(user.username)).status).toBe(401);
    // The third failure earns the first lock; the right password from yet another IP is then refused too.
    expect((await wrong(user.username)).status).toBe(401);
    const locked = await attempt(user.username);
    expect(locked.status).toBe(429);
    expect(Number(locked.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(locked.html).toContain('Too many failed sign-ins for this account');
    const { rows } = await h.db.query<{ ip: string; detail: { failures: number; lane: string } }>(
      `SELECT ip, detail FROM token.security_events WHERE kind = 'login_failed' AND user_id = $1 ORDER BY id`,
      [user.id],
    );
    expect(rows.map((r) => r.detail.failures)).toEqual([1, 2, 3]);
    expect(new Set(rows.map((r) => r.ip)).size).toBe(3);
  });

  it('is capped and not extended by refused attempts, so a stranger never locks the user out for good', async () => {
    const user = await h.newUser();
    for (let i = 0; i < 6; i++) await wrong(user.username);
    // Hammering while locked changes nothing: refused attempts are not counted.
    for (let i = 0; i < 5; i++) expect((await attempt(user.username)).status).toBe(429);
    await sleep(POLICY.maxSec * 1000 + 200);
    expect((await attempt(user.username)).status).toBe(302);
  });

  it('keeps the owner’s known browser in its own lane while a stranger locks the open lane', async () => {
    const user = await h.newUser();
    const first = await attempt(user.username);
    expect(first.status).toBe(302);
    const device = cookiePairs(first.headers);
    expect(first.headers.getSetCookie()[0]).toMatch(
      /^__Host-zm_device=[A-Za-z0-9_-]{43}; Path=\/; Secure; HttpOnly; SameSite=Strict; Max-Age=7776000$/,
    );
    for (let i = 0; i < 4; i++) await wrong(user.username);
    expect((await attempt(user.username)).status).toBe(429);
    expect((await attempt(user.username, { cookie: device })).status).toBe(302);
    // Another account's device cookie is no way around the lock.
    const other = await h.newUser();
    const otherDevice = cookiePairs((await attempt(other.username)).headers);
    expect((await attempt(user.username, { cookie: otherDevice })).status).toBe(429);
  });

  it('backs off an unknown username exactly like a real one (no oracle)', async () => {
    const ghost = `ghost-${Date.now()}`;
    const answers = [];
    for (let i = 0; i < 4; i++) answers.push((await wrong(ghost)).status);
    expect(answers).toEqual([401, 401, 401, 429]);
  });

  it('counts failed TOTP codes after a correct password', async () => {
    const user = await h.newUser();
    const e = await h.oauth.users.enrollTotp(user.id);
    const totp = new TOTP({ secret: e.secret });
    expect(await h.oauth.users.confirmTotp(user.id, await previousStepCode(totp))).toBe(true);
    for (let i = 0; i < 3; i++) expect((await attempt(user.username, { totp: '000000' })).status).toBe(401);
    expect((await attempt(user.username, { totp: totp.generate() })).status).toBe(429);
  });

  it('lets no parallel burst slip past: attempts are counted before they are checked', async () => {
    const user = await h.newUser();
    const statuses = (await Promise.all(Array.from({ length: 8 }, () => wrong(user.username)))).map(
      (r) => r.status,
    );
    expect(statuses.filter((s) => s === 401)).toHaveLength(POLICY.freeFailures + 1);
    expect(statuses.filter((s) => s === 429)).toHaveLength(8 - POLICY.freeFailures - 1);
  });
});

describe('per-account backoff on re-authentication over gRPC', () => {
  it('refuses self-enrollment with RESOURCE_EXHAUSTED account_locked after repeated wrong passwords', async () => {
    const user = await h.newUser();
    const me = await h.userToken(user, []);
    const rpc = await h.grpc();
    const reasons: string[] = [];
    for (let i = 0; i < 4; i++) {
      reasons.push(
        await rpc.enrollTotp({ userId: user.id, password: 'wrong password!!' }, me).then(
          () => 'ok',
          (e: { code: Code; reason: string }) => `${Code[e.code]} ${e.reason}`,
        ),
      );
    }
    expect(reasons).toEqual([
      'PERMISSION_DENIED reauthentication_failed',
      'PERMISSION_DENIED reauthentication_failed',
      'PERMISSION_DENIED reauthentication_failed',
      'RESOURCE_EXHAUSTED account_locked',
    ]);
    await expect(rpc.enrollTotp({ userId: user.id, password: PASSWORD }, me)).rejects.toMatchObject({
      code: Code.RESOURCE_EXHAUSTED,
      reason: 'account_locked',
    });
  });
});
