// `zenmesh user …` and `zenmesh oauth-client …` as a separate process against a real bff and token service:
// the password goes in on stdin only, secrets come out once.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { createLogger } from '@zenmesh/telemetry';
import { generateApiKey, hashApiKey, type RunningTokenService } from '@zenmesh/token';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMeshFixture, type MeshFixture } from './support/mesh-fixture.js';

const TENANT = 'ten_cccccccccccccccccccccccccc';
const BIN = fileURLToPath(new URL('../packages/cli/dist/bin.js', import.meta.url));
const logger = createLogger('accounts-cli', { level: 'silent' });
const adminKey = generateApiKey();

let fixture: MeshFixture;
let token: RunningTokenService;
let base: string;

beforeAll(async () => {
  fixture = await createMeshFixture('accounts-cli', { logger });
  token = await fixture.startToken({ bootstrapAdminKeySha256: hashApiKey(adminKey) });
  base = await fixture.startBff(token);
});

afterAll(() => fixture?.stop());

/** Runs the built CLI as its own process with `stdin` piped in. */
function zenmesh(
  args: string[],
  stdin = '',
  apiKey = adminKey,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, '--api-url', base, '--api-key', apiKey, ...args], {
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(stdin);
  });
}

describe('zenmesh user / oauth-client', () => {
  it('creates a user from a stdin password, enrolls TOTP once, and lists without secrets', async () => {
    const created = await zenmesh(
      ['--json', 'user', 'create', 'cli-alice', '--role', 'operator', '--tenant', TENANT, '--password-stdin'],
      'correct horse battery staple\n',
    );
    expect(created.code).toBe(0);
    const { userId } = JSON.parse(created.stdout) as { userId: string };
    expect(userId).toMatch(/^usr_[a-z2-7]{26}$/);
    const login = await token.oauth?.users.login({
      username: 'cli-alice',
      password: 'correct horse battery staple',
    });
    expect(login?.ok).toBe(true);

    // An admin cannot enroll for the user; the user does, with their own login token.
    const byAdmin = await zenmesh(
      ['user', 'totp', 'enroll', userId, '--password-stdin'],
      'correct horse battery staple\n',
    );
    expect(byAdmin).toMatchObject({
      code: 1,
      stderr: `zenmesh: POST /api/v1/users/${userId}/totp failed (403): forbidden: self_only\n`,
    });
    const oauth = token.oauth;
    if (oauth === undefined) throw new Error('oauth not configured');
    const { session } = await oauth.sessions.start({
      clientId: 'cli-test',
      userId,
      tenantId: TENANT,
      scopes: ['events:read'],
      authTime: new Date(),
    });
    const own = await oauth.tokens.mint({
      sub: userId,
      clientId: 'cli-test',
      scopes: ['events:read'],
      tenantId: TENANT,
      sessionId: session.id,
    });
    const totp = await zenmesh(
      ['user', 'totp', 'enroll', userId, '--password-stdin'],
      'correct horse battery staple\n',
      own.token,
    );
    expect(totp.code).toBe(0);
    expect(totp.stdout).toMatch(/^otpauth:\/\/totp\//m);
    expect(totp.stdout.match(/^ {2}[a-z2-7]{4}-[a-z2-7]{4}-[a-z2-7]{4}-[a-z2-7]{4}$/gm)).toHaveLength(10);
    expect(totp.stdout).toContain(`zenmesh user totp confirm ${userId} <code>`);
    const wrongCode = await zenmesh(['user', 'totp', 'confirm', userId, '000000'], '', own.token);
    expect(wrongCode.stderr).toBe(
      `zenmesh: POST /api/v1/users/${userId}/totp/confirm failed (400): invalid_argument: totp_code_invalid\n`,
    );

    // The cluster admin key resets: a link, in text and JSON, and never a secret.
    const reset = await zenmesh(['user', 'totp', 'reset', userId]);
    expect(reset.code).toBe(0);
    expect(reset.stdout).toMatch(
      /^Enrollment link for cli-alice \(one use, expires \d{4}-\d\d-\d\dT[^)]+\):\nhttp:\/\/127\.0\.0\.1:\d+\/account\/totp\?token=[A-Za-z0-9_-]{43}\n/,
    );
    expect(reset.stdout).not.toMatch(/otpauth|secret=/);
    const resetJson = await zenmesh(['--json', 'user', 'totp', 'reset', userId]);
    expect(Object.keys(JSON.parse(resetJson.stdout)).sort()).toEqual(['enrollmentUrl', 'expiresAt', 'user']);

    const listed = await zenmesh(['user', 'list']);
    expect(listed.code).toBe(0);
    expect(listed.stdout).toContain(`operator@${TENANT}`);
    expect(listed.stdout).not.toContain('otpauth');
  });

  it('refuses a password that is not on stdin, and reports the service refusal', async () => {
    const noFlag = await zenmesh(['user', 'create', 'cli-bob', '--role', 'reader']);
    expect(noFlag).toMatchObject({ code: 2, stderr: 'zenmesh: --password-stdin is required\n' });
    const short = await zenmesh(
      ['user', 'create', 'cli-bob', '--role', 'reader', '--password-stdin'],
      'short\n',
    );
    expect(short.code).toBe(1);
    expect(short.stderr).toBe(
      'zenmesh: POST /api/v1/users failed (400): invalid_argument: password_too_short\n',
    );
  });

  it('creates a public PKCE client (no secret) and a confidential one (secret once)', async () => {
    const pub = await zenmesh([
      'oauth-client',
      'create',
      'dashboard',
      '--redirect-uri',
      'http://127.0.0.1:5999/callback',
      '--public',
    ]);
    expect(pub.code).toBe(0);
    expect(pub.stdout).toMatch(/^Created OAuth client cli_\S+ \(none\)\n$/);
    const conf = await zenmesh([
      '--json',
      'oauth-client',
      'create',
      'worker',
      '--grant-types',
      'client_credentials',
      '--scopes',
      'events:read',
    ]);
    expect(conf.code).toBe(0);
    const { clientSecret } = JSON.parse(conf.stdout) as { clientSecret: string };
    expect(clientSecret.length).toBeGreaterThanOrEqual(43);
    const listed = await zenmesh(['oauth-client', 'list']);
    expect(listed.stdout).toContain('dashboard');
    expect(listed.stdout).not.toContain(clientSecret);
    const bad = await zenmesh([
      'oauth-client',
      'create',
      'x',
      '--redirect-uri',
      'http://evil.example/cb',
      '--public',
    ]);
    expect(bad.stderr).toBe(
      'zenmesh: POST /api/v1/oauth-clients failed (400): invalid_argument: redirect_uri_invalid\n',
    );
  });
});
