// The console's sign-in and session rules over plain HTTP against the real token service (issue 15): the
// authorization-code + PKCE round trip, the session cookie's exact attributes, idle and absolute timeouts,
// a callback that cannot be replayed or completed by another browser, and sign-out revoking the refresh token.
import { randomBytes } from 'node:crypto';
import {
  type BffApp,
  CONSOLE_SCOPE,
  createBffApp,
  createConsoleSetup,
  createTokenAuth,
  staticClient,
} from '@zenmesh/bff';
import { TokenService } from '@zenmesh/proto';
import type { RunningTokenService } from '@zenmesh/token';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMeshFixture, type MeshFixture } from './support/mesh-fixture.js';

const PASSWORD = 'correct horse battery staple';
const IDLE_MS = 2_500;
const ABSOLUTE_MS = 6_000;
let fixture: MeshFixture;
let token: RunningTokenService;
let app: BffApp;
let base = '';
let client = { clientId: '', clientSecret: '', redirectUri: '' };
let username = '';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const pairs = (res: Response) =>
  res.headers
    .getSetCookie()
    .map((c) => c.split(';')[0] ?? '')
    .join('; ');
const hidden = (html: string) =>
  new URLSearchParams(
    [...html.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)">/g)].map((m): [string, string] => [
      m[1] ?? '',
      (m[2] ?? '').replace(/&amp;/g, '&'),
    ]),
  );

/** The browser's half of a sign-in: start, the token service's form, the callback URL it redirects to. */
async function authorize(): Promise<{ loginCookie: string; callback: string }> {
  const start = await fetch(`${base}/console/login`, { redirect: 'manual' });
  expect(start.status).toBe(302);
  const authorizeUrl = new URL(start.headers.get('location') ?? '');
  expect(authorizeUrl.searchParams.get('code_challenge_method')).toBe('S256');
  expect(authorizeUrl.searchParams.get('nonce')).toMatch(/.{20,}/);
  const form = await fetch(authorizeUrl);
  const body = hidden(await form.text());
  body.set('username', username);
  body.set('password', PASSWORD);
  const login = await fetch(`${token.oauth?.issuer}/oauth/authorize`, {
    method: 'POST',
    body,
    headers: { cookie: pairs(form) },
    redirect: 'manual',
  });
  expect(login.status).toBe(302);
  return { loginCookie: pairs(start), callback: login.headers.get('location') ?? '' };
}

async function signIn(): Promise<string> {
  const { loginCookie, callback } = await authorize();
  const res = await fetch(callback, { headers: { cookie: loginCookie } });
  expect(res.status).toBe(200);
  const session = res.headers.getSetCookie().find((c) => c.startsWith('__Host-zm_console='));
  expect(session).toMatch(
    /^__Host-zm_console=[A-Za-z0-9_-]{43}; Path=\/; Secure; HttpOnly; SameSite=Strict$/,
  );
  return (session ?? '').split(';')[0] ?? '';
}

const shell = (cookie: string) => fetch(`${base}/console/`, { headers: { cookie }, redirect: 'manual' });

beforeAll(async () => {
  fixture = await createMeshFixture('console-session');
  token = await fixture.startToken();
  const oauth = token.oauth;
  if (oauth === undefined) throw new Error('no OAuth server');
  const ch = await fixture.channel('bff', 'token', token.ready.grpc);
  app = createBffApp({
    logger: fixture.logger,
    backend: {} as never,
    ...createTokenAuth(ch.client(TokenService), { issuer: oauth.issuer, revocationCacheMs: 0 }),
    authCacheTtlMs: 0,
    console: createConsoleSetup({
      issuer: oauth.issuer,
      client: async () => staticClient(client)(),
      timeouts: { idleMs: IDLE_MS, absoluteMs: ABSOLUTE_MS },
    }),
  });
  base = await app.listen('127.0.0.1:0');
  fixture.defer(() => app.close());
  const { client: c, clientSecret } = await oauth.clients.create({
    name: 'console',
    authMethod: 'client_secret_basic',
    grantTypes: ['authorization_code', 'refresh_token'],
    redirectUris: [`${base}/console/callback`],
    scopes: CONSOLE_SCOPE.split(' '),
  });
  client = { clientId: c.id, clientSecret: clientSecret ?? '', redirectUri: `${base}/console/callback` };
  username = `u${randomBytes(5).toString('hex')}`;
  const user = await oauth.users.create({ username, password: PASSWORD });
  await oauth.users.setRole(user.id, 'ten_acme', 'reader');
});
afterAll(() => fixture?.stop());

describe('console sessions', () => {
  it('ends a session left idle, and sends the browser to sign-in', async () => {
    const cookie = await signIn();
    expect((await shell(cookie)).status).toBe(200);
    await sleep(IDLE_MS + 500);
    const after = await shell(cookie);
    expect(after.status).toBe(302);
    expect(after.headers.get('location')).toBe('/console/login?returnTo=%2Fconsole%2F');
    const apiAfter = await fetch(`${base}/console/api/v1/tenants/ten_acme/events`, { headers: { cookie } });
    expect(apiAfter.status).toBe(401);
  });

  it('ends a busy session at the absolute timeout', async () => {
    const cookie = await signIn();
    const started = Date.now();
    while (Date.now() - started < ABSOLUTE_MS - 1_500) {
      expect((await shell(cookie)).status).toBe(200);
      await sleep(700);
    }
    await sleep(Math.max(0, ABSOLUTE_MS + 300 - (Date.now() - started)));
    expect((await shell(cookie)).status).toBe(302);
  });

  it('completes a callback once, only in the browser that started it', async () => {
    const { loginCookie, callback } = await authorize();
    const stranger = await authorize(); // another browser's pending sign-in
    const foreign = await fetch(callback, { headers: { cookie: stranger.loginCookie } });
    expect(foreign.status).toBe(400);
    expect(foreign.headers.getSetCookie().some((c) => c.startsWith('__Host-zm_console='))).toBe(false);
    const none = await fetch(callback);
    expect(none.status).toBe(400);
    const first = await fetch(callback, { headers: { cookie: loginCookie } });
    expect(first.status).toBe(200);
    const replay = await fetch(callback, { headers: { cookie: loginCookie } });
    expect(replay.status).toBe(400);
  });

  it('signs out only with the anti-forgery token, and revokes the login at the token service', async () => {
    const cookie = await signIn();
    const html = await (await shell(cookie)).text();
    const csrf = /name="csrf-token" content="([^"]+)"/.exec(html)?.[1] ?? '';
    const origin = { cookie, origin: base, 'content-type': 'application/x-www-form-urlencoded' };
    const forged = await fetch(`${base}/console/logout`, { method: 'POST', headers: origin, body: 'csrf=x' });
    expect(forged.status).toBe(403);
    expect((await shell(cookie)).status).toBe(200);
    const live = await token.db.query<{ n: string }>(
      'SELECT count(*) AS n FROM token.sessions WHERE client_id = $1 AND revoked_at IS NULL',
      [client.clientId],
    );
    const out = await fetch(`${base}/console/logout`, {
      method: 'POST',
      headers: origin,
      body: `csrf=${encodeURIComponent(csrf)}`,
    });
    expect(out.status).toBe(200);
    expect(out.headers.getSetCookie()[0]).toContain('Max-Age=0');
    expect((await shell(cookie)).status).toBe(302);
    const after = await token.db.query<{ n: string }>(
      'SELECT count(*) AS n FROM token.sessions WHERE client_id = $1 AND revoked_at IS NULL',
      [client.clientId],
    );
    expect(Number(after.rows[0]?.n)).toBe(Number(live.rows[0]?.n) - 1);
  });
});
