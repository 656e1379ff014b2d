// Stripping or stealing a user's MFA (issue 12, defect 1): every attack through the real gRPC face (mTLS as
// the bff, forwarded access tokens), the real enrollment-link page and the real login.
import { Code } from '@zenmesh/rpc';
import { TOTP, URI } from 'otpauth';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  cookiePairs,
  hiddenFields,
  PASSWORD,
  previousStepCode,
  startTokenHarness,
  type TokenHarness,
} from './test-kit/token-harness.js';
import type { UserRecord } from './users.js';

let h: TokenHarness;
let rpc: Awaited<ReturnType<TokenHarness['grpc']>>;
const ADMIN = ['events:read', 'events:write', 'sources:read', 'sources:write', 'endpoints:read'];
const ADMIN_SCOPES = [...ADMIN, 'endpoints:write', 'replay:write', 'keys:admin', 'admin'];

beforeAll(async () => {
  h = await startTokenHarness('token_mfa');
  rpc = await h.grpc('bff');
});
afterAll(async () => {
  await h?.stop();
});

const totpOf = (uri: string) => {
  const t = URI.parse(uri);
  if (!(t instanceof TOTP)) throw new Error('expected a TOTP URI');
  return t;
};

/** A user with a confirmed factor, enrolled the way the user would (self, over gRPC). */
async function enrolled(
  role: 'reader' | 'operator' | 'admin' = 'reader',
  tenant: string | null = 'ten_acme',
) {
  const user = await h.newUser(role, tenant);
  const me = await h.userToken(user, []);
  const e = await rpc.enrollTotp({ userId: user.id, password: PASSWORD }, me);
  const totp = totpOf(e.otpauthUri);
  const confirmed = await rpc.confirmTotp({ userId: user.id, code: await previousStepCode(totp) }, me);
  expect(confirmed.user).toMatchObject({ mfaEnabled: true, mfaPending: false });
  return { user, totp, recovery: e.recoveryCodes, me };
}

const login = (user: UserRecord, extra: { totp?: string; recoveryCode?: string } = {}) =>
  h.oauth.users.login({ username: user.username, password: PASSWORD, ...extra });

const refusal = (code: Code, reason: string) => expect.objectContaining({ code, reason });

async function apiKeyToken(scopes: string[], tenantId: string | null) {
  const { apiKey } = await h.service.store.create({ name: 'k', scopes, tenantId });
  const x = await rpc.exchangeApiKey({ apiKey });
  return { metadata: { authorization: `Bearer ${x.accessToken}` } };
}

describe('restarting enrollment never lowers MFA', () => {
  it('a restarted enrollment leaves the old factor required until the new one is confirmed', async () => {
    const { user, totp, recovery, me } = await enrolled();
    const restart = await rpc.enrollTotp(
      { userId: user.id, password: PASSWORD, currentCode: totp.generate() },
      me,
    );
    // Before the fix, this is where the password alone logged in.
    expect(await login(user)).toEqual({ ok: false, reason: 'mfa_required' });
    expect((await h.oauth.users.get(user.id))?.mfaPending).toBe(true);
    const fresh = totpOf(restart.otpauthUri);
    // The pending factor does not log in yet; the old recovery codes still do.
    expect(await login(user, { totp: fresh.generate() })).toEqual({
      ok: false,
      reason: 'invalid_credentials',
    });
    expect(await login(user, { recoveryCode: recovery[0] ?? '' })).toMatchObject({ ok: true });
    expect(await login(user, { recoveryCode: restart.recoveryCodes[0] ?? '' })).toMatchObject({ ok: false });
    await rpc.confirmTotp({ userId: user.id, code: await previousStepCode(fresh) }, me);
    // Confirmed: the old secret and recovery codes are gone, the new ones work.
    expect(await login(user, { recoveryCode: recovery[1] ?? '' })).toEqual({
      ok: false,
      reason: 'invalid_credentials',
    });
    expect(await login(user, { recoveryCode: restart.recoveryCodes[0] ?? '' })).toMatchObject({ ok: true });
    expect(await login(user, { totp: fresh.generate() })).toMatchObject({ ok: true, amr: ['pwd', 'otp'] });
  });

  it('self-enrollment requires the password and, once a factor is active, a current code of it', async () => {
    const { user, totp, me } = await enrolled();
    await expect(rpc.enrollTotp({ userId: user.id, password: '' }, me)).rejects.toEqual(
      refusal(Code.INVALID_ARGUMENT, 'password_required'),
    );
    await expect(rpc.enrollTotp({ userId: user.id, password: PASSWORD }, me)).rejects.toEqual(
      refusal(Code.INVALID_ARGUMENT, 'current_code_required'),
    );
    await expect(
      rpc.enrollTotp({ userId: user.id, password: 'wrong password!!', currentCode: totp.generate() }, me),
    ).rejects.toEqual(refusal(Code.PERMISSION_DENIED, 'reauthentication_failed'));
    await expect(
      rpc.enrollTotp({ userId: user.id, password: PASSWORD, currentCode: '000000' }, me),
    ).rejects.toEqual(refusal(Code.PERMISSION_DENIED, 'reauthentication_failed'));
    expect((await h.oauth.users.get(user.id))?.mfaPending).toBe(false);
  });

  it('nobody else may enroll or confirm for a user: not another user, not an admin, not an API key', async () => {
    const { user } = await enrolled();
    const other = await h.newUser('admin', 'ten_acme');
    const callers = [
      await h.userToken(other, ADMIN_SCOPES),
      await apiKeyToken(['admin'], null),
      await apiKeyToken(['keys:admin', ...ADMIN_SCOPES], 'ten_acme'),
    ];
    for (const caller of callers) {
      await expect(
        rpc.enrollTotp({ userId: user.id, password: PASSWORD, currentCode: '123456' }, caller),
      ).rejects.toEqual(refusal(Code.PERMISSION_DENIED, 'self_only'));
      await expect(rpc.confirmTotp({ userId: user.id, code: '123456' }, caller)).rejects.toEqual(
        refusal(Code.PERMISSION_DENIED, 'self_only'),
      );
    }
    const me = await h.userToken(user, []);
    await expect(rpc.confirmTotp({ userId: user.id, code: '123456' }, me)).rejects.toEqual(
      refusal(Code.FAILED_PRECONDITION, 'no_pending_enrollment'),
    );
  });
});

describe('an admin reset needs a strictly higher rank and yields a link, never a secret', () => {
  it('a tenant admin resets an operator of its tenant: it gets a one-time link and nothing secret', async () => {
    const { user, totp } = await enrolled('operator');
    const admin = await h.newUser('admin', 'ten_acme');
    const res = await rpc.resetTotp({ userId: user.id }, await h.userToken(admin, ADMIN_SCOPES));
    expect(Object.keys(res).filter((k) => !k.startsWith('$'))).toEqual([
      'enrollmentUrl',
      'expiresAt',
      'user',
    ]);
    expect(res.enrollmentUrl).toMatch(new RegExp(`^${h.issuer}/account/totp\\?token=[A-Za-z0-9_-]{43}$`));
    expect(JSON.stringify(res, (_k, v) => (typeof v === 'bigint' ? String(v) : v))).not.toMatch(
      /otpauth|secret/i,
    );
    // The old factor still stands until the user confirms a new one behind the link.
    expect(await login(user)).toEqual({ ok: false, reason: 'mfa_required' });
    expect(await login(user, { totp: totp.generate() })).toMatchObject({ ok: true });
  });

  it('refuses every reset by an equal or lower rank with rank_not_higher', async () => {
    const tenantAdmin = await h.userToken(await h.newUser('admin', 'ten_acme'), ADMIN_SCOPES);
    const clusterOwner = await h.newUser('admin', null);
    // The cluster owner is also a member of the tenant, so the tenant admin can see them.
    await h.oauth.users.setRole(clusterOwner.id, 'ten_acme', 'reader');
    const peerAdmin = await h.newUser('admin', 'ten_acme');
    const shared = await h.newUser('reader', 'ten_acme');
    await h.oauth.users.setRole(shared.id, 'ten_other', 'reader');
    const cases: Array<[string, { metadata: Record<string, string> }, string]> = [
      ['tenant admin → cluster owner', tenantAdmin, clusterOwner.id],
      ['tenant admin → tenant admin', tenantAdmin, peerAdmin.id],
      ['tenant admin → member of another tenant too', tenantAdmin, shared.id],
      [
        'cluster owner → cluster owner',
        await h.userToken(await h.newUser('admin', null), ADMIN_SCOPES, null),
        clusterOwner.id,
      ],
      ['bootstrap-style admin key → cluster owner', await apiKeyToken(['admin'], null), clusterOwner.id],
      ['keys:admin alone → reader', await apiKeyToken(['keys:admin'], 'ten_acme'), shared.id],
      ['self', await h.userToken(peerAdmin, ADMIN_SCOPES), peerAdmin.id],
    ];
    for (const [name, caller, target] of cases) {
      await expect(rpc.resetTotp({ userId: target }, caller), name).rejects.toEqual(
        refusal(Code.PERMISSION_DENIED, 'rank_not_higher'),
      );
    }
    // A cluster owner outranks a tenant admin; a reader-scoped token cannot call it at all.
    const owner = await h.userToken(await h.newUser('admin', null), ADMIN_SCOPES, null);
    await expect(rpc.resetTotp({ userId: peerAdmin.id }, owner)).resolves.toMatchObject({
      user: { id: peerAdmin.id },
    });
    const reader = await h.userToken(await h.newUser('reader'), ['events:read']);
    await expect(rpc.resetTotp({ userId: shared.id }, reader)).rejects.toEqual(
      refusal(Code.PERMISSION_DENIED, 'insufficient_scope'),
    );
    await expect(
      rpc.resetTotp({ userId: (await h.newUser('reader', 'ten_other')).id }, tenantAdmin),
    ).rejects.toEqual(refusal(Code.NOT_FOUND, 'user_not_found'));
  });
});

describe('the enrollment link page', () => {
  async function reset() {
    const { user, totp } = await enrolled('reader');
    const admin = await h.userToken(await h.newUser('admin', 'ten_acme'), ADMIN_SCOPES);
    const { enrollmentUrl } = await rpc.resetTotp({ userId: user.id }, admin);
    return { user, totp, url: enrollmentUrl, admin };
  }
  const post = (cookie: string, form: URLSearchParams) =>
    fetch(`${h.issuer}/account/totp`, {
      method: 'POST',
      body: form,
      headers: { cookie },
      redirect: 'manual',
    });
  async function open(url: string) {
    const page = await fetch(url);
    const html = await page.text();
    return { status: page.status, html, cookie: cookiePairs(page.headers), form: hiddenFields(html) };
  }

  it('asks for the password first, shows the secret once, and replaces the factor on confirmation', async () => {
    const { user, totp, url } = await reset();
    const first = await open(url);
    expect(first.status).toBe(200);
    expect(first.html).not.toMatch(/otpauth|Secret:/);
    expect(first.cookie).toMatch(/^__Host-zm_enroll_csrf=/);
    const wrong = await post(
      first.cookie,
      new URLSearchParams({ ...Object.fromEntries(first.form), password: 'wrong password!!' }),
    );
    expect(wrong.status).toBe(401);
    const again = await open(url);
    const shown = await post(
      again.cookie,
      new URLSearchParams({ ...Object.fromEntries(again.form), password: PASSWORD }),
    );
    expect(shown.status).toBe(200);
    const html = await shown.text();
    expect(html).toContain('<svg');
    const secret = /Secret: <code>([A-Z2-7]+)<\/code>/.exec(html)?.[1] ?? '';
    const fresh = new TOTP({ secret });
    // One time: the link does not open a second time, by GET or by POST.
    expect((await open(url)).status).toBe(410);
    expect(
      (
        await post(
          again.cookie,
          new URLSearchParams({ ...Object.fromEntries(again.form), password: PASSWORD }),
        )
      ).status,
    ).toBe(410);
    // The old factor still logs in until the new one is confirmed.
    expect(await login(user, { totp: totp.generate() })).toMatchObject({ ok: true });
    const confirmForm = hiddenFields(html);
    const cookie = cookiePairs(shown.headers);
    const bad = await post(
      cookie,
      new URLSearchParams({ ...Object.fromEntries(confirmForm), code: '000000' }),
    );
    expect(bad.status).toBe(400);
    const retry = hiddenFields(await bad.text());
    const ok = await post(
      cookiePairs(bad.headers),
      new URLSearchParams({ ...Object.fromEntries(retry), code: await previousStepCode(fresh) }),
    );
    expect(ok.status).toBe(200);
    expect(await login(user, { totp: fresh.generate() })).toMatchObject({ ok: true });
    expect((await open(url)).status).toBe(410);
  });

  it('refuses an expired link, a superseded link and a forged token with 410', async () => {
    const a = await reset();
    await h.db.query(
      "UPDATE token.totp_enrollment_links SET expires_at = now() - interval '1 second' WHERE user_id = $1",
      [a.user.id],
    );
    expect((await open(a.url)).status).toBe(410);
    const b = await reset();
    const { enrollmentUrl: newer } = await rpc.resetTotp({ userId: b.user.id }, b.admin);
    expect((await open(b.url)).status).toBe(410);
    expect((await open(newer)).status).toBe(200);
    expect((await open(`${h.issuer}/account/totp?token=${'A'.repeat(43)}`)).status).toBe(410);
  });

  it('refuses a password post without the CSRF cookie', async () => {
    const { url } = await reset();
    const page = await open(url);
    const res = await post('', new URLSearchParams({ ...Object.fromEntries(page.form), password: PASSWORD }));
    expect(res.status).toBe(403);
    expect(await res.text()).not.toContain('Secret:');
  });
});

describe('the account audit chain', () => {
  it('records every MFA action and refusal, refuses UPDATE, and names a tampered row', async () => {
    const { user } = await enrolled('reader');
    const admin = await h.newUser('admin', 'ten_acme');
    await rpc.resetTotp({ userId: user.id }, await h.userToken(admin, ADMIN_SCOPES));
    await rpc
      .resetTotp({ userId: admin.id }, await h.userToken(user, ['events:read', 'keys:admin']))
      .catch(() => null);
    const rows = await h.oauth.accountAudit.list({ target: `user/${user.id}` });
    expect(rows.map((r) => [r.action, r.actor])).toEqual([
      ['totp.enroll', `user:${user.id}`],
      ['totp.confirmed', `user:${user.id}`],
      ['totp.reset_link_issued', `user:${admin.id}`],
    ]);
    expect(rows.every((r) => r.via === 'spiffe://zenmesh.local/ns/zenmesh/sa/bff')).toBe(true);
    const refused = await h.oauth.accountAudit.list({ target: `user/${admin.id}` });
    expect(refused.map((r) => [r.action, r.detail])).toEqual([
      ['totp.reset', { refused: 'rank_not_higher' }],
    ]);
    expect(await h.oauth.accountAudit.verify()).toMatchObject({ ok: true });
    await expect(h.db.query("UPDATE token.account_audit SET actor = 'nobody'")).rejects.toMatchObject({
      sqlState: '42501',
    });
    await expect(h.db.query('DELETE FROM token.account_audit')).rejects.toMatchObject({ sqlState: '42501' });
    // The table owner can switch the trigger off; the chain still shows which row was changed.
    const victim = rows[1]?.seq ?? 0;
    await h.db.exec('ALTER TABLE token.account_audit DISABLE TRIGGER account_audit_append_only');
    await h.db.query("UPDATE token.account_audit SET actor = 'user:usr_someoneelse' WHERE seq = $1", [
      victim,
    ]);
    await h.db.exec('ALTER TABLE token.account_audit ENABLE TRIGGER account_audit_append_only');
    expect(await h.oauth.accountAudit.verify()).toEqual({
      ok: false,
      rows: victim - 1,
      broken: { seq: victim, reason: 'hash_mismatch' },
    });
  });
});
