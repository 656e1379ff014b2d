// Attacks on the authorization code exchange (issue 12, defect 6), driven through openid-client.
import { createDatabase } from '@zenmesh/db';
import * as oidc from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTokenHarness, type TokenHarness } from './test-kit/token-harness.js';

let h: TokenHarness;

beforeAll(async () => {
  h = await startTokenHarness('token_code');
});
afterAll(async () => {
  await h?.stop();
});

async function codeFor() {
  const { config } = await h.dashboard();
  const user = await h.newUser();
  const verifier = oidc.randomPKCECodeVerifier();
  const { status, location } = await h.login(config, { username: user.username, verifier });
  expect(status).toBe(302);
  return { config, user, verifier, callback: new URL(location ?? '') };
}

async function waitFor(check: () => Promise<boolean>, ms = 5_000) {
  const until = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > until) throw new Error('condition not reached');
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Statements of this database waiting on a lock whose text starts like `pattern`. */
const waiting = async (pattern: string) =>
  (
    await h.db.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM pg_stat_activity
       WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE $1`,
      [pattern],
    )
  ).rows[0]?.n ?? 0;

const events = async (userId: string) =>
  (
    await h.db.query<{ kind: string; session_id: string | null; detail: Record<string, unknown> }>(
      'SELECT kind, session_id, detail FROM token.security_events WHERE user_id = $1 ORDER BY id',
      [userId],
    )
  ).rows;

describe('authorization code: proofs are checked before the code is consumed', () => {
  it('a wrong PKCE verifier is refused and does not burn the code for the legitimate client', async () => {
    const { config, user, verifier, callback } = await codeFor();
    // The attacker intercepted the callback URL (code and state) but cannot know the verifier.
    await expect(
      oidc.authorizationCodeGrant(config, callback, {
        pkceCodeVerifier: oidc.randomPKCECodeVerifier(),
        expectedState: 'st-1',
      }),
    ).rejects.toMatchObject({ error: 'invalid_grant', status: 400 });
    const tokens = await oidc.authorizationCodeGrant(config, callback, {
      pkceCodeVerifier: verifier,
      expectedState: 'st-1',
    });
    expect((await oidc.tokenIntrospection(config, tokens.access_token)).active).toBe(true);
    expect(await events(user.id)).toEqual([
      expect.objectContaining({
        kind: 'authorization_code_proof_failed',
        detail: { check: 'code_verifier' },
      }),
    ]);
  });

  it('a wrong redirect_uri is refused and does not burn the code either', async () => {
    const { config, user, verifier, callback } = await codeFor();
    const moved = new URL(callback);
    moved.pathname = '/elsewhere';
    await expect(
      oidc.authorizationCodeGrant(config, moved, { pkceCodeVerifier: verifier, expectedState: 'st-1' }),
    ).rejects.toMatchObject({ error: 'invalid_grant' });
    const tokens = await oidc.authorizationCodeGrant(config, callback, {
      pkceCodeVerifier: verifier,
      expectedState: 'st-1',
    });
    expect(tokens.refresh_token).toMatch(/^zmr_/);
    expect((await events(user.id)).map((e) => e.detail)).toEqual([{ check: 'redirect_uri' }]);
  });

  it('a second exchange racing the first finds the bound session and revokes the family', async () => {
    const { config, user, verifier, callback } = await codeFor();
    const exchange = () =>
      oidc.authorizationCodeGrant(config, callback, { pkceCodeVerifier: verifier, expectedState: 'st-1' });
    // Hold the first exchange between "code consumed" and "session bound": the test locks token.sessions, so
    // the first exchange waits on its session INSERT. Before the fix its code was already committed as used
    // with session_id NULL at that point, and the racing second exchange revoked nothing.
    const blocker = await createDatabase({ url: h.scratchUrl });
    const released = blocker.transaction(async (tx) => {
      await tx.query('LOCK TABLE token.sessions IN EXCLUSIVE MODE');
      const first = exchange();
      await waitFor(async () => (await waiting('INSERT INTO token.sessions%')) > 0);
      const second = exchange().then(
        () => 'issued',
        (err: { error?: string }) => err.error ?? 'error',
      );
      // The second exchange queues on the code row the first one still holds (or, before the fix, is done).
      await new Promise((r) => setTimeout(r, 300));
      return { first, second };
    });
    const { first, second } = await released;
    await blocker.close();
    const tokens = await first;
    expect(await second).toBe('invalid_grant');
    expect(await oidc.tokenIntrospection(config, tokens.access_token)).toEqual({ active: false });
    expect(await oidc.tokenIntrospection(config, tokens.refresh_token ?? '')).toEqual({ active: false });
    await expect(oidc.refreshTokenGrant(config, tokens.refresh_token ?? '')).rejects.toMatchObject({
      error: 'invalid_grant',
    });
    const reuse = (await events(user.id)).filter((e) => e.kind === 'authorization_code_reuse');
    expect(reuse).toEqual([expect.objectContaining({ session_id: expect.stringMatching(/^ses_/) })]);
  });

  it('two exchanges fired at once: exactly one wins and the family ends revoked', async () => {
    const { config, verifier, callback } = await codeFor();
    const exchange = () =>
      oidc.authorizationCodeGrant(config, callback, { pkceCodeVerifier: verifier, expectedState: 'st-1' });
    const results = await Promise.allSettled([exchange(), exchange()]);
    const won = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
    const lost = results.flatMap((r) => (r.status === 'rejected' ? [r.reason] : []));
    expect(won).toHaveLength(1);
    expect(lost).toEqual([expect.objectContaining({ error: 'invalid_grant' })]);
    expect(await oidc.tokenIntrospection(config, won[0]?.access_token ?? '')).toEqual({ active: false });
  });

  it('a reuse presented with a wrong verifier changes nothing (no revocation by a stranger)', async () => {
    const { config, user, verifier, callback } = await codeFor();
    const tokens = await oidc.authorizationCodeGrant(config, callback, {
      pkceCodeVerifier: verifier,
      expectedState: 'st-1',
    });
    await expect(
      oidc.authorizationCodeGrant(config, callback, {
        pkceCodeVerifier: oidc.randomPKCECodeVerifier(),
        expectedState: 'st-1',
      }),
    ).rejects.toMatchObject({ error: 'invalid_grant' });
    expect((await oidc.tokenIntrospection(config, tokens.access_token)).active).toBe(true);
    expect((await events(user.id)).map((e) => e.kind)).toEqual(['authorization_code_proof_failed']);
  });
});
