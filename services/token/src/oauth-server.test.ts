import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createAccessTokenVerifier } from '@zenmesh/auth';
import { createDatabase, createScratchDatabase, type ScratchDatabase } from '@zenmesh/db';
import { createCertificateAuthority, issueSvidWithKey, spiffeIdFor } from '@zenmesh/pki';
import { createLogger } from '@zenmesh/telemetry';
import {
  createRemoteJWKSet,
  decodeProtectedHeader,
  exportJWK,
  generateKeyPair,
  jwtVerify,
  SignJWT,
  UnsecuredJWT,
} from 'jose';
import * as oidc from 'openid-client';
import { TOTP } from 'otpauth';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { OAuthConfig } from './oauth-server.js';
import { hiddenFields, previousStepCode } from './test-kit/token-harness.js';
import { type RunningTokenService, startTokenService } from './token-service.js';

/** The OAuth side of a service started with `oauth` config (always present in these tests). */
function oauthOf(s: RunningTokenService) {
  if (s.oauth === undefined) throw new Error('oauth not configured');
  return s.oauth;
}

const logger = createLogger('token-oauth-test', { level: 'silent' });
const REDIRECT = 'http://127.0.0.1:5999/callback';
const PASSWORD = 'correct horse battery staple';

let scratch: ScratchDatabase;
let secretsDir: string;
let service: RunningTokenService;
let issuer: string;
let skewMs = 0;
const running: RunningTokenService[] = [];

async function start(oauth: Partial<OAuthConfig> = {}): Promise<RunningTokenService> {
  const ca = await createCertificateAuthority({ trustDomain: 'zenmesh.local' });
  const svid = await issueSvidWithKey({
    ca,
    spiffeId: spiffeIdFor('token', { trustDomain: 'zenmesh.local', namespace: 'zenmesh' }),
  });
  const s = await startTokenService({
    integrity: false,
    logger,
    identity: { cert: svid.certPem, key: svid.keyPem, ca: ca.certPem },
    trustDomain: 'zenmesh.local',
    namespace: 'zenmesh',
    grpcListen: '127.0.0.1:0',
    httpListen: '127.0.0.1:0',
    databaseUrl: scratch.url,
    oauth: {
      secretsDir,
      refreshGraceSec: 0,
      loginRateLimit: { points: 1000, durationSec: 60 },
      now: () => new Date(Date.now() + skewMs),
      ...oauth,
    },
  });
  running.push(s);
  return s;
}

const insecure = { execute: [oidc.allowInsecureRequests] };

async function confidential(scopes = ['events:read', 'events:write']) {
  const { client, clientSecret } = await oauthOf(service).clients.create({
    name: 'worker',
    authMethod: 'client_secret_basic',
    grantTypes: ['client_credentials'],
    scopes,
  });
  const config = await oidc.discovery(
    new URL(issuer),
    client.id,
    undefined,
    oidc.ClientSecretBasic(clientSecret ?? ''),
    insecure,
  );
  return { client, clientSecret: clientSecret ?? '', config };
}

async function dashboard() {
  const { client, clientSecret } = await oauthOf(service).clients.create({
    name: 'dashboard',
    authMethod: 'client_secret_post',
    grantTypes: ['authorization_code', 'refresh_token'],
    redirectUris: [REDIRECT],
    scopes: ['openid', 'offline_access', 'events:read', 'endpoints:write', 'admin'],
  });
  return oidc.discovery(
    new URL(issuer),
    client.id,
    undefined,
    oidc.ClientSecretPost(clientSecret ?? ''),
    insecure,
  );
}

/** Runs the browser part of the code flow (login form) and returns the callback URL with the code. */
async function login(
  config: oidc.Configuration,
  opts: { username: string; verifier: string; totp?: string; recovery?: string; scope?: string },
) {
  const url = oidc.buildAuthorizationUrl(config, {
    redirect_uri: REDIRECT,
    scope: opts.scope ?? 'openid offline_access events:read',
    code_challenge: await oidc.calculatePKCECodeChallenge(opts.verifier),
    code_challenge_method: 'S256',
    state: 'st-1',
  });
  const form = await fetch(url);
  expect(form.status).toBe(200);
  const html = await form.text();
  const cookie = (form.headers.get('set-cookie') ?? '').split(';')[0] ?? '';
  const body = hiddenFields(html);
  body.set('username', opts.username);
  body.set('password', PASSWORD);
  if (opts.totp !== undefined) body.set('totp', opts.totp);
  if (opts.recovery !== undefined) body.set('recovery_code', opts.recovery);
  const res = await fetch(`${issuer}/oauth/authorize`, {
    method: 'POST',
    body,
    headers: { cookie },
    redirect: 'manual',
  });
  return { status: res.status, location: res.headers.get('location') };
}

async function newUser(role: 'admin' | 'operator' | 'reader' = 'reader', tenant: string | null = 'ten_acme') {
  const user = await oauthOf(service).users.create({
    username: `u${randomBytes(6).toString('hex')}`,
    password: PASSWORD,
  });
  await oauthOf(service).users.setRole(user.id, tenant, role);
  return user;
}

const atVerifier = () => {
  const jwks = createRemoteJWKSet(new URL(`${issuer}/.well-known/jwks.json`));
  return (token: string) => jwtVerify(token, jwks, { issuer, audience: 'urn:zenmesh:api', typ: 'at+jwt' });
};

beforeAll(async () => {
  scratch = await createScratchDatabase(process.env.DATABASE_URL ?? '', 'zm_test_token_oauth');
  secretsDir = mkdtempSync(join(tmpdir(), 'zm-token-secrets-'));
  writeFileSync(join(secretsDir, 'master.key'), randomBytes(32).toString('base64'), { mode: 0o600 });
  service = await start();
  issuer = oauthOf(service).issuer;
});

afterAll(async () => {
  for (const s of running) await s.stop();
  await scratch?.drop();
  rmSync(secretsDir, { recursive: true, force: true });
});

describe('discovery and client_credentials through openid-client', () => {
  it('discovers the server and issues RFC 9068 access tokens that verify against the JWKS', async () => {
    const { client, config } = await confidential();
    const meta = config.serverMetadata();
    expect(meta.issuer).toBe(issuer);
    expect(meta.code_challenge_methods_supported).toEqual(['S256']);
    expect(meta.scopes_supported).toEqual([
      'openid',
      'offline_access',
      'events:read',
      'events:write',
      'sources:read',
      'sources:write',
      'endpoints:read',
      'endpoints:write',
      'replay:write',
      'keys:admin',
      'admin',
    ]);
    const tokens = await oidc.clientCredentialsGrant(config, { scope: 'events:read' });
    expect(tokens.token_type).toBe('bearer');
    expect(tokens.expires_in).toBeLessThanOrEqual(900);
    expect(decodeProtectedHeader(tokens.access_token)).toMatchObject({ alg: 'ES256', typ: 'at+jwt' });
    const { payload } = await atVerifier()(tokens.access_token);
    expect(payload).toMatchObject({
      iss: issuer,
      sub: client.id,
      aud: 'urn:zenmesh:api',
      client_id: client.id,
      scope: 'events:read',
    });
    expect(typeof payload.jti).toBe('string');
    expect((payload.exp ?? 0) - (payload.iat ?? 0)).toBeLessThanOrEqual(900);
  });

  it('refuses a wrong client secret with invalid_client', async () => {
    const { client } = await confidential();
    const bad = await oidc.discovery(
      new URL(issuer),
      client.id,
      undefined,
      oidc.ClientSecretBasic('not-the-secret'),
      insecure,
    );
    // RFC 6749 §5.2: 401 with a WWW-Authenticate challenge, which openid-client surfaces as such.
    await expect(oidc.clientCredentialsGrant(bad)).rejects.toMatchObject({
      name: 'WWWAuthenticateChallengeError',
      status: 401,
    });
    const raw = await fetch(`${issuer}/oauth/token`, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        authorization: `Basic ${Buffer.from(`${client.id}:not-the-secret`).toString('base64')}`,
      },
      body: new URLSearchParams({ grant_type: 'client_credentials' }),
    });
    expect(raw.status).toBe(401);
    expect(await raw.json()).toEqual({
      error: 'invalid_client',
      error_description: 'client authentication failed',
    });
  });

  it('refuses a scope outside the client ceiling with invalid_scope', async () => {
    const { config } = await confidential(['events:read']);
    await expect(oidc.clientCredentialsGrant(config, { scope: 'admin' })).rejects.toMatchObject({
      error: 'invalid_scope',
    });
  });

  it('authenticates private_key_jwt clients and refuses an assertion signed by another key', async () => {
    const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
    const { client } = await oauthOf(service).clients.create({
      name: 'pkjwt',
      authMethod: 'private_key_jwt',
      grantTypes: ['client_credentials'],
      scopes: ['events:read'],
      jwks: { keys: [{ ...(await exportJWK(publicKey)), alg: 'ES256' }] },
    });
    const config = await oidc.discovery(
      new URL(issuer),
      client.id,
      undefined,
      oidc.PrivateKeyJwt(privateKey),
      insecure,
    );
    const tokens = await oidc.clientCredentialsGrant(config);
    expect((await atVerifier()(tokens.access_token)).payload.client_id).toBe(client.id);
    const other = await generateKeyPair('ES256');
    const forged = await oidc.discovery(
      new URL(issuer),
      client.id,
      undefined,
      oidc.PrivateKeyJwt(other.privateKey),
      insecure,
    );
    await expect(oidc.clientCredentialsGrant(forged)).rejects.toMatchObject({
      name: 'WWWAuthenticateChallengeError',
      status: 401,
    });
  });
});

describe('authorization_code + PKCE', () => {
  it('logs a user in and issues access, refresh and ID tokens scoped by role', async () => {
    const config = await dashboard();
    const user = await newUser('reader');
    const verifier = oidc.randomPKCECodeVerifier();
    const { status, location } = await login(config, {
      username: user.username,
      verifier,
      scope: 'openid offline_access events:read admin',
    });
    expect(status).toBe(302);
    const tokens = await oidc.authorizationCodeGrant(config, new URL(location ?? ''), {
      pkceCodeVerifier: verifier,
      expectedState: 'st-1',
    });
    // A reader asked for admin too; it gets what its role allows (RFC 6749 §3.3).
    expect(tokens.scope).toBe('openid offline_access events:read');
    expect(tokens.refresh_token).toMatch(/^zmr_/);
    expect(tokens.claims()?.sub).toBe(user.id);
    const { payload } = await atVerifier()(tokens.access_token);
    expect(payload).toMatchObject({ sub: user.id, tenant_id: 'ten_acme' });
    const info = await oidc.fetchUserInfo(config, tokens.access_token, user.id);
    expect(info).toMatchObject({ sub: user.id, preferred_username: user.username, tenant_id: 'ten_acme' });
  });

  it('refuses a wrong PKCE verifier', async () => {
    const config = await dashboard();
    const user = await newUser();
    const { location } = await login(config, {
      username: user.username,
      verifier: oidc.randomPKCECodeVerifier(),
    });
    await expect(
      oidc.authorizationCodeGrant(config, new URL(location ?? ''), {
        pkceCodeVerifier: oidc.randomPKCECodeVerifier(),
        expectedState: 'st-1',
      }),
    ).rejects.toMatchObject({ error: 'invalid_grant' });
  });

  it('refuses a reused code and revokes what the first exchange issued', async () => {
    const config = await dashboard();
    const user = await newUser();
    const verifier = oidc.randomPKCECodeVerifier();
    const { location } = await login(config, { username: user.username, verifier });
    const first = await oidc.authorizationCodeGrant(config, new URL(location ?? ''), {
      pkceCodeVerifier: verifier,
      expectedState: 'st-1',
    });
    await expect(
      oidc.authorizationCodeGrant(config, new URL(location ?? ''), {
        pkceCodeVerifier: verifier,
        expectedState: 'st-1',
      }),
    ).rejects.toMatchObject({ error: 'invalid_grant' });
    expect((await oidc.tokenIntrospection(config, first.access_token)).active).toBe(false);
    expect((await oidc.tokenIntrospection(config, first.refresh_token ?? '')).active).toBe(false);
  });

  it('refuses a redirect URI that differs from the authorization request', async () => {
    const config = await dashboard();
    const user = await newUser();
    const verifier = oidc.randomPKCECodeVerifier();
    const { location } = await login(config, { username: user.username, verifier });
    const moved = new URL(location ?? '');
    moved.pathname = '/elsewhere';
    await expect(
      oidc.authorizationCodeGrant(config, moved, { pkceCodeVerifier: verifier, expectedState: 'st-1' }),
    ).rejects.toMatchObject({ error: 'invalid_grant' });
  });

  it('never redirects to an unregistered redirect URI, and refuses plain PKCE', async () => {
    const config = await dashboard();
    const url = oidc.buildAuthorizationUrl(config, {
      redirect_uri: 'http://evil.example/cb',
      code_challenge: await oidc.calculatePKCECodeChallenge(oidc.randomPKCECodeVerifier()),
      code_challenge_method: 'S256',
    });
    const res = await fetch(url, { redirect: 'manual' });
    expect(res.status).toBe(400);
    const plain = oidc.buildAuthorizationUrl(config, {
      redirect_uri: REDIRECT,
      code_challenge: 'x'.repeat(43),
      code_challenge_method: 'plain',
    });
    const res2 = await fetch(plain, { redirect: 'manual' });
    expect(res2.status).toBe(302);
    expect(new URL(res2.headers.get('location') ?? '').searchParams.get('error')).toBe('invalid_request');
  });

  it('rejects a wrong password and an unknown user with the same answer', async () => {
    const config = await dashboard();
    const user = await newUser();
    const wrong = await login(config, { username: 'nobody-here', verifier: oidc.randomPKCECodeVerifier() });
    expect(wrong.status).toBe(401);
    const ok = await oauthOf(service).users.login({ username: user.username, password: 'wrong password!!' });
    expect(ok).toEqual({ ok: false, reason: 'invalid_credentials' });
    expect(await oauthOf(service).users.login({ username: 'nobody-here', password: PASSWORD })).toEqual({
      ok: false,
      reason: 'invalid_credentials',
    });
  });

  it('requires TOTP once enrolled; a code and a recovery code each work once', async () => {
    const config = await dashboard();
    const user = await newUser();
    const enrollment = await oauthOf(service).users.enrollTotp(user.id);
    expect(enrollment.recoveryCodes).toHaveLength(10);
    const totp = new TOTP({ secret: enrollment.secret });
    // Confirm with the previous step's code so the login below can use the current one (no replay).
    expect(await oauthOf(service).users.confirmTotp(user.id, await previousStepCode(totp))).toBe(true);
    const noCode = await login(config, { username: user.username, verifier: oidc.randomPKCECodeVerifier() });
    expect(noCode.status).toBe(401);
    const code = totp.generate();
    const withCode = await login(config, {
      username: user.username,
      verifier: oidc.randomPKCECodeVerifier(),
      totp: code,
    });
    expect(withCode.status).toBe(302);
    const replay = await login(config, {
      username: user.username,
      verifier: oidc.randomPKCECodeVerifier(),
      totp: code,
    });
    expect(replay.status).toBe(401);
    const recovery = enrollment.recoveryCodes[0] ?? '';
    expect(
      (await login(config, { username: user.username, verifier: oidc.randomPKCECodeVerifier(), recovery }))
        .status,
    ).toBe(302);
    expect(
      (await login(config, { username: user.username, verifier: oidc.randomPKCECodeVerifier(), recovery }))
        .status,
    ).toBe(401);
    const db = await createDatabase({ url: scratch.url });
    const { rows } = await db.query<{ code_sha256: string }>(
      'select code_sha256 from token.recovery_codes where user_id = $1',
      [user.id],
    );
    await db.close();
    expect(rows).toHaveLength(10);
    for (const r of rows) expect(enrollment.recoveryCodes).not.toContain(r.code_sha256);
  });
});

describe('refresh, introspection and revocation', () => {
  async function session() {
    const config = await dashboard();
    const user = await newUser();
    const verifier = oidc.randomPKCECodeVerifier();
    const { location } = await login(config, { username: user.username, verifier });
    const tokens = await oidc.authorizationCodeGrant(config, new URL(location ?? ''), {
      pkceCodeVerifier: verifier,
      expectedState: 'st-1',
    });
    return { config, tokens, user };
  }

  it('rotates refresh tokens; reuse revokes the whole family and records a security event', async () => {
    const { config, tokens, user } = await session();
    const second = await oidc.refreshTokenGrant(config, tokens.refresh_token ?? '');
    expect(second.refresh_token).not.toBe(tokens.refresh_token);
    expect((await oidc.tokenIntrospection(config, second.access_token)).active).toBe(true);
    await expect(oidc.refreshTokenGrant(config, tokens.refresh_token ?? '')).rejects.toMatchObject({
      error: 'invalid_grant',
    });
    for (const t of [
      tokens.access_token,
      tokens.refresh_token ?? '',
      second.access_token,
      second.refresh_token ?? '',
    ]) {
      expect(await oidc.tokenIntrospection(config, t)).toEqual({ active: false });
    }
    await expect(oidc.refreshTokenGrant(config, second.refresh_token ?? '')).rejects.toMatchObject({
      error: 'invalid_grant',
    });
    const db = await createDatabase({ url: scratch.url });
    const { rows } = await db.query<{ kind: string }>(
      'select kind from token.security_events where user_id = $1',
      [user.id],
    );
    await db.close();
    expect(rows.map((r) => r.kind)).toContain('refresh_token_reuse');
  });

  it('introspects an active token with its claims (callers must authenticate)', async () => {
    const { config, tokens, user } = await session();
    const answer = await oidc.tokenIntrospection(config, tokens.access_token);
    expect(answer).toMatchObject({
      active: true,
      sub: user.id,
      scope: 'openid offline_access events:read',
      iss: issuer,
    });
    const anonymous = await fetch(`${issuer}/oauth/introspect`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ token: tokens.access_token }),
    });
    expect(anonymous.status).toBe(401);
    expect(await anonymous.json()).toMatchObject({ error: 'invalid_client' });
  });

  it('revokes an access token, and a refresh token with its family (RFC 7009)', async () => {
    const a = await session();
    await oidc.tokenRevocation(a.config, a.tokens.access_token);
    expect((await oidc.tokenIntrospection(a.config, a.tokens.access_token)).active).toBe(false);
    expect((await oidc.tokenIntrospection(a.config, a.tokens.refresh_token ?? '')).active).toBe(true);
    const b = await session();
    await oidc.tokenRevocation(b.config, b.tokens.refresh_token ?? '');
    expect((await oidc.tokenIntrospection(b.config, b.tokens.access_token)).active).toBe(false);
    await expect(oidc.refreshTokenGrant(b.config, b.tokens.refresh_token ?? '')).rejects.toMatchObject({
      error: 'invalid_grant',
    });
  });

  it('within the grace window a replayed refresh token gets a fresh successor and voids the unused one', async () => {
    const graceful = await start({ refreshGraceSec: 60 });
    const saved = { service, issuer };
    service = graceful;
    issuer = oauthOf(graceful).issuer;
    try {
      const { config, tokens } = await session();
      const lost = await oidc.refreshTokenGrant(config, tokens.refresh_token ?? '');
      const retry = await oidc.refreshTokenGrant(config, tokens.refresh_token ?? '');
      expect((await oidc.tokenIntrospection(config, lost.refresh_token ?? '')).active).toBe(false);
      expect((await oidc.tokenIntrospection(config, retry.refresh_token ?? '')).active).toBe(true);
      // Once the successor has been used, a replay is reuse even inside the window.
      await oidc.refreshTokenGrant(config, retry.refresh_token ?? '');
      await expect(oidc.refreshTokenGrant(config, tokens.refresh_token ?? '')).rejects.toMatchObject({
        error: 'invalid_grant',
      });
      expect((await oidc.tokenIntrospection(config, retry.access_token)).active).toBe(false);
    } finally {
      ({ service, issuer } = saved);
    }
  });
});

describe('forgeries and foreign tokens are refused', () => {
  it('refuses alg none, HS256 keyed with the public key, other issuers, other audiences and expired tokens', async () => {
    const { config } = await confidential();
    const real = (await oidc.clientCredentialsGrant(config)).access_token;
    const { payload } = await atVerifier()(real);
    const verify = createAccessTokenVerifier({ issuer, audience: 'urn:zenmesh:api' });
    await expect(verify(real)).resolves.toMatchObject({ clientId: payload.client_id });

    const none = new UnsecuredJWT(payload)
      .encode()
      .replace(/^[^.]+/, Buffer.from(JSON.stringify({ alg: 'none', typ: 'at+jwt' })).toString('base64url'));
    const jwks = (await (await fetch(`${issuer}/.well-known/jwks.json`)).json()) as {
      keys: Array<Record<string, string>>;
    };
    const pub = jwks.keys[0] ?? {};
    const hs = await new SignJWT(payload)
      .setProtectedHeader({ alg: 'HS256', typ: 'at+jwt', kid: pub.kid ?? '' })
      .sign(new TextEncoder().encode(JSON.stringify(pub)));
    const foreignKey = await generateKeyPair('ES256');
    const foreign = await new SignJWT({ ...payload, iss: 'http://evil.example' })
      .setProtectedHeader({ alg: 'ES256', typ: 'at+jwt', kid: pub.kid ?? '' })
      .sign(foreignKey.privateKey);
    for (const forged of [none, hs, foreign]) {
      await expect(atVerifier()(forged)).rejects.toThrow();
      await expect(verify(forged)).rejects.toMatchObject({ code: 'ERR_TOKEN_INVALID' });
      expect(await oidc.tokenIntrospection(config, forged)).toEqual({ active: false });
    }
    await expect(
      createAccessTokenVerifier({
        issuer: 'http://127.0.0.1:1',
        audience: 'urn:zenmesh:api',
        jwksUri: `${issuer}/.well-known/jwks.json`,
      })(real),
    ).rejects.toMatchObject({ code: 'ERR_TOKEN_INVALID' });
    await expect(
      createAccessTokenVerifier({ issuer, audience: 'urn:other:api' })(real),
    ).rejects.toMatchObject({ code: 'ERR_TOKEN_INVALID' });
    const later = () => new Date(((payload.exp ?? 0) + 60) * 1000);
    await expect(
      createAccessTokenVerifier({ issuer, audience: 'urn:zenmesh:api', now: later })(real),
    ).rejects.toMatchObject({ code: 'ERR_TOKEN_EXPIRED' });
    skewMs = ((payload.exp ?? 0) + 60) * 1000 - Date.now();
    try {
      expect(await oidc.tokenIntrospection(config, real)).toEqual({ active: false });
    } finally {
      skewMs = 0;
    }
  });
});

describe('signing keys and rate limits', () => {
  it('publishes the next key before it signs and keeps the retired one published', async () => {
    const ring = oauthOf(service).keys;
    const before = ring.list();
    const next = before.find((k) => k.state === 'next');
    const current = before.find((k) => k.state === 'current');
    const { config } = await confidential();
    const old = (await oidc.clientCredentialsGrant(config)).access_token;
    const published = (await (await fetch(`${issuer}/.well-known/jwks.json`)).json()) as {
      keys: Array<{ kid: string }>;
    };
    expect(published.keys.map((k) => k.kid)).toContain(next?.kid);
    await ring.rotate();
    const fresh = (await oidc.clientCredentialsGrant(config)).access_token;
    expect(decodeProtectedHeader(fresh).kid).toBe(next?.kid);
    const after = (await (await fetch(`${issuer}/.well-known/jwks.json`)).json()) as {
      keys: Array<{ kid: string }>;
    };
    expect(after.keys.map((k) => k.kid)).toEqual(expect.arrayContaining([current?.kid, next?.kid]));
    const verify = atVerifier();
    await expect(verify(old)).resolves.toBeDefined();
    await expect(verify(fresh)).resolves.toBeDefined();
  });

  it('answers 429 with X-RateLimit-* headers once a client exhausts its budget', async () => {
    const limited = await start({ rateLimit: { points: 3, durationSec: 60 } });
    const base = oauthOf(limited).issuer;
    const { client, clientSecret } = await oauthOf(limited).clients.create({
      name: 'noisy',
      authMethod: 'client_secret_post',
      grantTypes: ['client_credentials'],
      scopes: ['events:read'],
    });
    const call = () =>
      fetch(`${base}/oauth/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({
          grant_type: 'client_credentials',
          client_id: client.id,
          client_secret: clientSecret ?? '',
        }),
      });
    const first = await call();
    expect(first.status).toBe(200);
    expect(first.headers.get('x-ratelimit-limit')).toBe('3');
    expect(first.headers.get('x-ratelimit-remaining')).toBe('2');
    await call();
    await call();
    const refused = await call();
    expect(refused.status).toBe(429);
    expect(refused.headers.get('x-ratelimit-remaining')).toBe('0');
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(await refused.json()).toMatchObject({ error: 'rate_limited' });
  });
});
