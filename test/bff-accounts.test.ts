import { createAccessTokenVerifier } from '@zenmesh/auth';
import { createLogger } from '@zenmesh/telemetry';
import { generateApiKey, hashApiKey, type RunningTokenService } from '@zenmesh/token';
import * as oidc from 'openid-client';
import { TOTP, URI } from 'otpauth';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bffApi, createMeshFixture, type MeshFixture } from './support/mesh-fixture.js';
import { describedApi } from './support/openapi-validator.js';

const TENANT = 'ten_aaaaaaaaaaaaaaaaaaaaaaaaaa';
const OTHER = 'ten_bbbbbbbbbbbbbbbbbbbbbbbbbb';
const REDIRECT = 'http://127.0.0.1:5999/callback';
const PASSWORD = 'correct horse battery staple';
const logLines: string[] = [];
const logger = createLogger('bff-accounts-test', {
  level: 'debug',
  destination: {
    write: (line: string) => {
      logLines.push(line);
    },
  },
});
/** Everything shown once (or typed in) by the tests below: none of it may reach a log line. */
const shown: string[] = [];

let fixture: MeshFixture;
let token: RunningTokenService;
let base: string;
let issuer: string;
const adminKey = generateApiKey();

beforeAll(async () => {
  fixture = await createMeshFixture('bff-accounts', { logger });
  token = await fixture.startToken({
    bootstrapAdminKeySha256: hashApiKey(adminKey),
    oauth: { loginRateLimit: { points: 1000, durationSec: 60 } },
  });
  issuer = token.oauth?.issuer ?? '';
  base = await fixture.startBff(token);
});

afterAll(() => fixture?.stop());

// Every answer is checked against the OpenAPI document this bff serves (openapi-validator.ts).
const api = describedApi(
  () => base,
  bffApi(() => base),
);

const invalid = (message: string) => ({ status: 400, body: { error: 'invalid_argument', message } });
const forbidden = { status: 403, body: { error: 'forbidden' } };
const publicClient = {
  name: 'dashboard',
  redirectUris: [REDIRECT],
  grantTypes: ['authorization_code', 'refresh_token'],
  tokenEndpointAuthMethod: 'none',
  scopes: ['openid', 'offline_access', 'events:read', 'endpoints:write'],
};

/** The browser part of the code flow: fetch the login form, post the credentials, return the redirect. */
async function login(
  config: oidc.Configuration,
  opts: { username: string; password: string; verifier: string; totp?: string },
) {
  const url = oidc.buildAuthorizationUrl(config, {
    redirect_uri: REDIRECT,
    scope: 'openid offline_access events:read',
    code_challenge: await oidc.calculatePKCECodeChallenge(opts.verifier),
    code_challenge_method: 'S256',
    state: 'st-1',
  });
  const form = await fetch(url);
  expect(form.status).toBe(200);
  const html = await form.text();
  const cookie = (form.headers.get('set-cookie') ?? '').split(';')[0] ?? '';
  const body = new URLSearchParams();
  for (const m of html.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)">/g)) {
    body.set(
      m[1] ?? '',
      (m[2] ?? '')
        .replace(/&amp;/g, '&')
        .replace(/&quot;/g, '"')
        .replace(/&#39;/g, "'"),
    );
  }
  body.set('username', opts.username);
  body.set('password', opts.password);
  if (opts.totp !== undefined) body.set('totp', opts.totp);
  const res = await fetch(`${issuer}/oauth/authorize`, {
    method: 'POST',
    body,
    headers: { cookie },
    redirect: 'manual',
  });
  return { status: res.status, location: res.headers.get('location') };
}

describe('users and OAuth clients through the bff', () => {
  it('refuses callers without keys:admin on every route', async () => {
    const { apiKey } = await token.store.create({ name: 'reader', scopes: ['events:read'] });
    const user = { username: 'nobody', password: PASSWORD, role: 'reader' };
    expect(await api('POST', '/api/v1/users', apiKey, user)).toEqual(forbidden);
    expect(await api('GET', '/api/v1/users', apiKey)).toEqual(forbidden);
    expect(await api('POST', '/api/v1/users/usr_aaaaaaaaaaaaaaaaaaaaaaaaaa/totp/reset', apiKey)).toEqual(
      forbidden,
    );
    // Enrollment is open to any caller's route, but the token service lets only the user themself through.
    expect(
      await api('POST', '/api/v1/users/usr_aaaaaaaaaaaaaaaaaaaaaaaaaa/totp', apiKey, { password: PASSWORD }),
    ).toEqual({ status: 403, body: { error: 'forbidden', message: 'self_only' } });
    expect(await api('POST', '/api/v1/oauth-clients', apiKey, publicClient)).toEqual(forbidden);
    expect(await api('GET', '/api/v1/oauth-clients', apiKey)).toEqual(forbidden);
  });

  it('refuses invalid users with the exact reason, and a taken username with 409', async () => {
    const user = { username: 'ops-alice', password: PASSWORD, role: 'operator', tenantId: TENANT };
    expect(await api('POST', '/api/v1/users', adminKey, { ...user, username: 'Bad Name!' })).toEqual(
      invalid('username_invalid'),
    );
    expect(await api('POST', '/api/v1/users', adminKey, { ...user, password: 'short-11chr' })).toEqual(
      invalid('password_too_short'),
    );
    expect(await api('POST', '/api/v1/users', adminKey, { ...user, role: 'root' })).toEqual(
      invalid('role_invalid'),
    );
    expect(await api('POST', '/api/v1/users', adminKey, { ...user, tenantId: 'acme' })).toEqual(
      invalid('tenant_id_invalid'),
    );
    expect(await api('POST', '/api/v1/users', adminKey, { ...user, extra: 1 })).toMatchObject({
      status: 400,
      body: { error: 'invalid_argument' },
    });
    expect((await api('POST', '/api/v1/users', adminKey, user)).status).toBe(201);
    expect(await api('POST', '/api/v1/users', adminKey, { ...user, username: 'OPS-Alice' })).toEqual({
      status: 409,
      body: { error: 'already_exists', message: 'username_taken' },
    });
    expect(await api('POST', '/api/v1/users/usr_aaaaaaaaaaaaaaaaaaaaaaaaaa/totp/reset', adminKey)).toEqual({
      status: 404,
      body: { error: 'not_found', message: 'user_not_found' },
    });
  });

  it('keeps a tenant key admin inside its tenant and below its own scopes', async () => {
    const { apiKey } = await token.store.create({
      name: 'tenant-admin',
      scopes: ['keys:admin', 'events:read'],
      tenantId: TENANT,
    });
    const user = { username: 'tenant-reader', password: PASSWORD, role: 'reader' };
    expect(await api('POST', '/api/v1/users', apiKey, { ...user, tenantId: OTHER })).toEqual(forbidden);
    // reader includes sources:read and endpoints:read, which this key lacks.
    expect(await api('POST', '/api/v1/users', apiKey, user)).toEqual(forbidden);
    expect(await api('POST', '/api/v1/oauth-clients', apiKey, publicClient)).toEqual(forbidden);
    expect(await api('GET', '/api/v1/oauth-clients', apiKey)).toEqual(forbidden);
    const other = await api('POST', '/api/v1/users', adminKey, {
      ...user,
      username: 'other-reader',
      tenantId: OTHER,
    });
    const otherId = other.body.userId as string;
    expect(await api('POST', `/api/v1/users/${otherId}/totp/reset`, apiKey)).toEqual({
      status: 404,
      body: { error: 'not_found', message: 'user_not_found' },
    });
    const listed = await api('GET', '/api/v1/users', apiKey);
    expect(listed.status).toBe(200);
    expect((listed.body.users as Array<{ id: string }>).map((u) => u.id)).not.toContain(otherId);
  });

  it('refuses invalid OAuth clients with the exact reason', async () => {
    const post = (patch: Record<string, unknown>) =>
      api('POST', '/api/v1/oauth-clients', adminKey, { ...publicClient, ...patch });
    expect(await post({ redirectUris: ['http://app.example/cb'] })).toEqual(invalid('redirect_uri_invalid'));
    expect(await post({ redirectUris: ['https://app.example/cb#frag'] })).toEqual(
      invalid('redirect_uri_invalid'),
    );
    expect(await post({ redirectUris: ['/relative/cb'] })).toEqual(invalid('redirect_uri_invalid'));
    expect(await post({ redirectUris: [] })).toEqual(invalid('redirect_uris_required'));
    expect(await post({ grantTypes: ['client_credentials'] })).toEqual(
      invalid('public_client_grant_not_allowed'),
    );
    expect(await post({ grantTypes: ['password'] })).toEqual(invalid('grant_type_invalid'));
    expect(await post({ grantTypes: [] })).toEqual(invalid('grant_types_required'));
    expect(await post({ tokenEndpointAuthMethod: 'private_key_jwt' })).toEqual(
      invalid('token_endpoint_auth_method_invalid'),
    );
    expect(await post({ scopes: ['everything'] })).toEqual(invalid('unknown_scope'));
    expect(await post({ scopes: [] })).toEqual(invalid('scopes_required'));
    expect(await post({ name: '' })).toEqual(invalid('name_invalid'));
    expect(await post({ resourceAudiences: ['not an audience'] })).toEqual(
      invalid('resource_audience_invalid'),
    );
    expect(await post({ resourceAudiences: Array(9).fill('urn:a') })).toEqual(
      invalid('resourceAudiences: Too big: expected array to have <=8 items'),
    );
    const rs = await post({ resourceAudiences: ['urn:zenmesh:api'] });
    expect(rs).toMatchObject({ status: 201, body: { client: { resourceAudiences: ['urn:zenmesh:api'] } } });
  });

  it('a confidential client gets its secret once; list never shows it', async () => {
    const created = await api('POST', '/api/v1/oauth-clients', adminKey, {
      name: 'worker',
      grantTypes: ['client_credentials'],
      tokenEndpointAuthMethod: 'client_secret_basic',
      scopes: ['events:read'],
    });
    expect(created.status).toBe(201);
    const secret = created.body.clientSecret as string;
    shown.push(secret);
    expect(secret.length).toBeGreaterThanOrEqual(43);
    const listed = await api('GET', '/api/v1/oauth-clients', adminKey);
    expect((listed.body.clients as Array<{ id: string }>).map((c) => c.id)).toContain(created.body.clientId);
    expect(JSON.stringify(listed.body)).not.toContain(secret);
  });

  it('a user enrolls TOTP themself through the bff; an admin reset yields only a link; then TOTP is required', async () => {
    const client = await api('POST', '/api/v1/oauth-clients', adminKey, publicClient);
    expect(client.status).toBe(201);
    expect(client.body.clientSecret).toBeNull();
    const created = await api('POST', '/api/v1/users', adminKey, {
      username: 'dash-user',
      password: PASSWORD,
      role: 'operator',
      tenantId: TENANT,
    });
    const userId = created.body.userId as string;
    const config = await oidc.discovery(
      new URL(issuer),
      client.body.clientId as string,
      undefined,
      oidc.None(),
      { execute: [oidc.allowInsecureRequests] },
    );
    const signIn = async (totp?: string) => {
      const verifier = oidc.randomPKCECodeVerifier();
      const res = await login(config, {
        username: 'dash-user',
        password: PASSWORD,
        verifier,
        ...(totp === undefined ? {} : { totp }),
      });
      if (res.status !== 302) return { status: res.status, token: '' };
      const tokens = await oidc.authorizationCodeGrant(config, new URL(res.location ?? ''), {
        pkceCodeVerifier: verifier,
        expectedState: 'st-1',
      });
      return { status: 302, token: tokens.access_token };
    };
    const first = await signIn();
    expect(first.status).toBe(302);

    // The admin key is not the user: it cannot enroll or confirm on their behalf.
    expect(await api('POST', `/api/v1/users/${userId}/totp`, adminKey, { password: PASSWORD })).toEqual({
      status: 403,
      body: { error: 'forbidden', message: 'self_only' },
    });
    expect(
      await api('POST', `/api/v1/users/${userId}/totp`, first.token, { password: 'wrong password!!' }),
    ).toEqual({
      status: 403,
      body: { error: 'forbidden', message: 'reauthentication_failed' },
    });
    expect(
      await api('POST', `/api/v1/users/${userId}/totp/confirm`, first.token, { code: '123456' }),
    ).toEqual({
      status: 409,
      body: { error: 'failed_precondition', message: 'no_pending_enrollment' },
    });
    const enrolled = await api('POST', `/api/v1/users/${userId}/totp`, first.token, { password: PASSWORD });
    expect(enrolled.status).toBe(200);
    const codes = enrolled.body.recoveryCodes as string[];
    expect(new Set(codes).size).toBe(10);
    const totp = URI.parse(enrolled.body.otpauthUri as string);
    if (!(totp instanceof TOTP)) throw new Error('expected a TOTP URI');
    shown.push(totp.secret.base32, ...codes);
    expect(
      await api('POST', `/api/v1/users/${userId}/totp/confirm`, first.token, { code: '000000x' }),
    ).toEqual(invalid('totp_code_invalid'));
    // The previous step's code: still inside the ±1 window, and it leaves the current code for the login.
    // Taken at least 5 s before the step ends, so it is still in the window when the server checks it.
    if (Date.now() % 30_000 > 25_000)
      await new Promise((r) => setTimeout(r, 30_000 - (Date.now() % 30_000) + 50));
    const confirmed = await api('POST', `/api/v1/users/${userId}/totp/confirm`, first.token, {
      code: totp.generate({ timestamp: Date.now() - 30_000 }),
    });
    expect(confirmed).toMatchObject({
      status: 200,
      body: { user: { id: userId, mfaEnabled: true, mfaPending: false } },
    });
    const users = await api('GET', `/api/v1/users?tenant=${TENANT}`, adminKey);
    expect(JSON.stringify(users.body)).not.toMatch(/secret=|recovery/i);

    expect((await signIn()).status).toBe(401);
    const ok = await signIn(totp.generate());
    expect(ok.status).toBe(302);
    const principal = await createAccessTokenVerifier({ issuer, audience: 'urn:zenmesh:api' })(ok.token);
    expect(principal).toMatchObject({ subject: userId, tenantId: TENANT });
    expect(principal.scopes).toEqual(expect.arrayContaining(['events:read']));

    // The cluster admin key outranks a tenant operator: the reset answers a link, and MFA stays on.
    const reset = await api('POST', `/api/v1/users/${userId}/totp/reset`, adminKey);
    expect(reset).toMatchObject({ status: 200, body: { user: { id: userId, mfaEnabled: true } } });
    expect(Object.keys(reset.body).sort()).toEqual(['enrollmentUrl', 'expiresAt', 'user']);
    expect(reset.body.enrollmentUrl).toMatch(new RegExp(`^${issuer}/account/totp\\?token=`));
    shown.push(new URL(reset.body.enrollmentUrl as string).searchParams.get('token') ?? '');
    expect((await signIn()).status).toBe(401);
    // A tenant admin cannot reset a fellow admin of its tenant.
    const { apiKey: tenantAdmin } = await token.store.create({
      name: 'tadmin',
      scopes: ['admin'],
      tenantId: TENANT,
    });
    const peer = await api('POST', '/api/v1/users', adminKey, {
      username: 'peer-admin',
      password: PASSWORD,
      role: 'admin',
      tenantId: TENANT,
    });
    expect(await api('POST', `/api/v1/users/${peer.body.userId as string}/totp/reset`, tenantAdmin)).toEqual({
      status: 403,
      body: { error: 'forbidden', message: 'rank_not_higher' },
    });
    // Guessing the password through the re-authentication runs into the per-account backoff.
    const guesses = [];
    for (let i = 0; i < 6; i++) {
      guesses.push(
        await api('POST', `/api/v1/users/${userId}/totp`, ok.token, {
          password: 'wrong password!!',
          currentCode: '123456',
        }),
      );
    }
    expect(guesses.slice(0, 5).map((g) => g.body.message)).toEqual(Array(5).fill('reauthentication_failed'));
    expect(guesses[5]).toEqual({
      status: 429,
      body: { error: 'too_many_requests', message: 'account_locked' },
    });
  });

  it('never logs a password, client secret, TOTP seed or recovery code', () => {
    // Runs last: by now every route above has been called, with valid and invalid input.
    const log = logLines.join('');
    expect(log).toContain('user created');
    expect(log).toContain('oauth client created');
    expect(shown.length).toBeGreaterThan(10);
    for (const secret of [PASSWORD, 'wrong password!!', 'short-11chr', ...shown])
      expect(log).not.toContain(secret);
  });
});

describe('the OpenAPI document of the account routes', () => {
  it('describes every answer, and each route answered a described success in this file', () => {
    const doc = api.doc();
    if (doc === undefined) throw new Error('no call was made');
    const ops = Object.entries(doc.paths).flatMap(([path, item]) =>
      Object.entries(item)
        .filter(([, op]) => /^\/api\/v1\/(users|oauth-clients)/.test(path) && op !== undefined)
        .map(([method, op]) => ({
          key: `${method.toUpperCase()} ${path}`,
          statuses: Object.keys(op.responses),
        })),
    );
    expect(ops).toHaveLength(7);
    for (const op of ops) {
      expect([op.key, op.statuses.includes('2XX')]).toEqual([op.key, false]);
      const success = op.statuses.find((s) => s.startsWith('2'));
      expect([op.key, api.answered.has(`${op.key} ${success}`)]).toEqual([op.key, true]);
    }
  });
});
