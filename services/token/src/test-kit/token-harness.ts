// Test support only (excluded from the build): a real token service on loopback over a scratch Postgres,
// with the pieces the attack tests share — clients, users, the browser half of the code flow, a mesh channel.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Role } from '@zenmesh/auth';
import { createDatabase, createScratchDatabase, type Db, type ScratchDatabase } from '@zenmesh/db';
import { createCertificateAuthority, issueSvidWithKey, spiffeIdFor } from '@zenmesh/pki';
import { TokenService } from '@zenmesh/proto';
import { createMeshChannel, type MeshChannel, type ServiceClient } from '@zenmesh/rpc';
import { createLogger } from '@zenmesh/telemetry';
import * as oidc from 'openid-client';
import type { OAuthClient } from '../clients.js';
import type { OAuthConfig, OAuthServer } from '../oauth-server.js';
import { type RunningTokenService, startTokenService } from '../token-service.js';
import type { UserRecord } from '../users.js';

export const REDIRECT = 'http://127.0.0.1:5999/callback';
export const PASSWORD = 'correct horse battery staple';

/**
 * The previous 30 s step's TOTP code, which leaves the current step's code free for a later login (a step is
 * used once). Taken at least 5 s before the step ends, so the code is still inside the ±1 window when the
 * server checks it on a loaded machine.
 */
export async function previousStepCode(totp: {
  generate(o: { timestamp: number }): string;
}): Promise<string> {
  const intoStep = Date.now() % 30_000;
  if (intoStep > 25_000) await new Promise((r) => setTimeout(r, 30_000 - intoStep + 50));
  return totp.generate({ timestamp: Date.now() - 30_000 });
}
const TD = { trustDomain: 'zenmesh.local', namespace: 'zenmesh' };
export const insecure = { execute: [oidc.allowInsecureRequests] };

export interface LoginAnswer {
  status: number;
  location: string | null;
  html: string;
  headers: Headers;
}

export interface TokenHarness {
  service: RunningTokenService;
  oauth: OAuthServer;
  issuer: string;
  /** A second connection to the scratch database, for assertions on what was stored. */
  db: Db;
  scratchUrl: string;
  /** A confidential (client_secret_post) code-flow client registered for REDIRECT. */
  dashboard(scopes?: string[]): Promise<{ client: OAuthClient; secret: string; config: oidc.Configuration }>;
  /** A confidential client_credentials client. */
  worker(
    scopes?: string[],
    extra?: { resourceAudiences?: string[] },
  ): Promise<{ client: OAuthClient; secret: string; config: oidc.Configuration }>;
  newUser(role?: Role, tenant?: string | null): Promise<UserRecord>;
  /** The browser half of the code flow: GET the login form, POST it back with these credentials. */
  login(
    config: oidc.Configuration,
    opts: {
      username: string;
      password?: string;
      verifier: string;
      totp?: string;
      recovery?: string;
      scope?: string;
      cookie?: string;
      /** Sent as X-Forwarded-For (believed only when the harness trusts 127.0.0.1 as a proxy). */
      ip?: string;
    },
  ): Promise<LoginAnswer>;
  /** A TokenService client over real mTLS, calling as the named workload (default bff). */
  grpc(caller?: string): Promise<ServiceClient<(typeof TokenService)['method']>>;
  /** `authorization` metadata carrying an access token for this user (as the code flow would issue). */
  userToken(
    user: UserRecord,
    scopes: readonly string[],
    tenantId?: string | null,
  ): Promise<{ metadata: Record<string, string>; sessionId: string }>;
  stop(): Promise<void>;
}

/** Hidden inputs of one of our HTML forms, unescaped. */
export function hiddenFields(html: string): URLSearchParams {
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
  return body;
}

/** `name=value` pairs of every Set-Cookie header, for the next request's Cookie header. */
export const cookiePairs = (headers: Headers) =>
  headers
    .getSetCookie()
    .map((c) => c.split(';')[0] ?? '')
    .join('; ');

export async function startTokenHarness(
  name: string,
  oauthConfig: Partial<OAuthConfig> = {},
): Promise<TokenHarness> {
  const logger = createLogger(`token-${name}`, { level: 'silent' });
  const scratch: ScratchDatabase = await createScratchDatabase(
    process.env.DATABASE_URL ?? '',
    `zm_test_${name}`,
  );
  const secretsDir = mkdtempSync(join(tmpdir(), `zm-${name}-`));
  writeFileSync(join(secretsDir, 'master.key'), randomBytes(32).toString('base64'), { mode: 0o600 });
  const ca = await createCertificateAuthority({ trustDomain: TD.trustDomain });
  const identity = async (service: string) => {
    const svid = await issueSvidWithKey({ ca, spiffeId: spiffeIdFor(service, TD) });
    return { cert: svid.certPem, key: svid.keyPem, ca: ca.certPem };
  };
  const service = await startTokenService({
    logger,
    identity: await identity('token'),
    ...TD,
    // mTLS alone: these tests are about the token service's own rules, not message integrity.
    integrity: false,
    grpcListen: '127.0.0.1:0',
    httpListen: '127.0.0.1:0',
    databaseUrl: scratch.url,
    oauth: {
      secretsDir,
      refreshGraceSec: 0,
      loginRateLimit: { points: 1000, durationSec: 60 },
      ...oauthConfig,
    },
  });
  const oauth = service.oauth;
  if (oauth === undefined) throw new Error('oauth not configured');
  const issuer = oauth.issuer;
  const db = await createDatabase({ url: scratch.url });
  const channels: MeshChannel[] = [];

  const discover = (client: OAuthClient, auth: oidc.ClientAuth) =>
    oidc.discovery(new URL(issuer), client.id, undefined, auth, insecure);

  return {
    service,
    oauth,
    issuer,
    db,
    scratchUrl: scratch.url,
    async dashboard(scopes = ['openid', 'offline_access', 'events:read', 'endpoints:write', 'admin']) {
      const { client, clientSecret } = await oauth.clients.create({
        name: 'dashboard',
        authMethod: 'client_secret_post',
        grantTypes: ['authorization_code', 'refresh_token'],
        redirectUris: [REDIRECT],
        scopes,
      });
      const secret = clientSecret ?? '';
      return { client, secret, config: await discover(client, oidc.ClientSecretPost(secret)) };
    },
    async worker(scopes = ['events:read'], extra = {}) {
      const { client, clientSecret } = await oauth.clients.create({
        name: 'worker',
        authMethod: 'client_secret_basic',
        grantTypes: ['client_credentials'],
        scopes,
        ...extra,
      });
      const secret = clientSecret ?? '';
      return { client, secret, config: await discover(client, oidc.ClientSecretBasic(secret)) };
    },
    async newUser(role = 'reader', tenant = 'ten_acme') {
      const user = await oauth.users.create({
        username: `u${randomBytes(6).toString('hex')}`,
        password: PASSWORD,
      });
      await oauth.users.setRole(user.id, tenant, role);
      return (await oauth.users.get(user.id)) ?? user;
    },
    async login(config, opts) {
      const url = oidc.buildAuthorizationUrl(config, {
        redirect_uri: REDIRECT,
        scope: opts.scope ?? 'openid offline_access events:read',
        code_challenge: await oidc.calculatePKCECodeChallenge(opts.verifier),
        code_challenge_method: 'S256',
        state: 'st-1',
      });
      const via: Record<string, string> = opts.ip === undefined ? {} : { 'x-forwarded-for': opts.ip };
      const form = await fetch(url, {
        headers: { ...via, ...(opts.cookie === undefined ? {} : { cookie: opts.cookie }) },
      });
      if (form.status !== 200) throw new Error(`login form answered ${form.status}`);
      const body = hiddenFields(await form.text());
      body.set('username', opts.username);
      body.set('password', opts.password ?? PASSWORD);
      if (opts.totp !== undefined) body.set('totp', opts.totp);
      if (opts.recovery !== undefined) body.set('recovery_code', opts.recovery);
      const cookie = [cookiePairs(form.headers), opts.cookie]
        .filter((c) => c !== undefined && c !== '')
        .join('; ');
      const res = await fetch(`${issuer}/oauth/authorize`, {
        method: 'POST',
        body,
        headers: { ...via, cookie },
        redirect: 'manual',
      });
      return {
        status: res.status,
        location: res.headers.get('location'),
        html: await res.text(),
        headers: res.headers,
      };
    },
    async grpc(caller = 'bff') {
      const channel = createMeshChannel({
        ...TD,
        address: service.ready.grpc,
        identity: await identity(caller),
        peer: 'token',
        integrity: false,
      });
      channels.push(channel);
      return channel.client(TokenService);
    },
    async userToken(user, scopes, tenantId) {
      const membership = user.memberships[0];
      const tenant = tenantId === undefined ? (membership?.tenantId ?? null) : tenantId;
      const { session } = await oauth.sessions.start({
        clientId: 'dashboard-test',
        userId: user.id,
        tenantId: tenant,
        scopes: [...scopes],
        authTime: new Date(),
      });
      const minted = await oauth.tokens.mint({
        sub: user.id,
        clientId: 'dashboard-test',
        scopes,
        tenantId: tenant,
        sessionId: session.id,
      });
      return { metadata: { authorization: `Bearer ${minted.token}` }, sessionId: session.id };
    },
    async stop() {
      for (const c of channels) c.close();
      await db.close();
      await service.stop();
      await scratch.drop();
      rmSync(secretsDir, { recursive: true, force: true });
    },
  };
}
