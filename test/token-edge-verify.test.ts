// The token-service edge checks of `zenmesh verify` (issue 12, defect 8 and the enrollment link): against the
// real token service they hold; against a server with the old login page they fail and say what they saw.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createScratchDatabase, type ScratchDatabase } from '@zenmesh/db';
import { createCertificateAuthority, issueSvidWithKey, spiffeIdFor } from '@zenmesh/pki';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { probeTokenEdge } from '../packages/cli/dist/launcher/token-edge-probe.js';
import { createLogger } from '../packages/telemetry/dist/index.js';
import { type RunningTokenService, startTokenService } from '../services/token/dist/index.js';

const TD = { trustDomain: 'zenmesh.local', namespace: 'zenmesh' };
let scratch: ScratchDatabase;
let secretsDir: string;
let token: RunningTokenService;
let legacy: Server;

beforeAll(async () => {
  scratch = await createScratchDatabase(process.env.DATABASE_URL ?? '', 'zm_test_token_edge');
  secretsDir = mkdtempSync(join(tmpdir(), 'zm-token-edge-'));
  writeFileSync(join(secretsDir, 'master.key'), randomBytes(32).toString('base64'), { mode: 0o600 });
  const ca = await createCertificateAuthority({ trustDomain: TD.trustDomain });
  const svid = await issueSvidWithKey({ ca, spiffeId: spiffeIdFor('token', TD) });
  token = await startTokenService({
    logger: createLogger('token-edge', { level: 'silent' }),
    identity: { cert: svid.certPem, key: svid.keyPem, ca: ca.certPem },
    ...TD,
    integrity: false,
    grpcListen: '127.0.0.1:0',
    httpListen: '127.0.0.1:0',
    databaseUrl: scratch.url,
    oauth: { secretsDir },
  });
  // What the login page answered before issue 12: a path-scoped, non-Secure cookie and form-action 'self';
  // no enrollment links; introspection that answered anyone.
  legacy = createServer((req, res) => {
    if ((req.url ?? '').startsWith('/oauth/authorize')) {
      res
        .writeHead(200, {
          'set-cookie': 'zm_login_csrf=abc; Path=/oauth/authorize; HttpOnly; SameSite=Strict',
          'content-security-policy': "default-src 'none'; form-action 'self'; frame-ancestors 'none'",
        })
        .end('<form></form>');
    } else if ((req.url ?? '').startsWith('/oauth/introspect')) {
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"active":false}');
    } else res.writeHead(404).end();
  });
  await new Promise<void>((r) => legacy.listen(0, '127.0.0.1', r));
});

afterAll(async () => {
  await new Promise((r) => legacy?.close(r));
  await token?.stop();
  await scratch?.drop();
  rmSync(secretsDir, { recursive: true, force: true });
});

describe('zenmesh verify: token service edge', () => {
  it('holds against the real token service', async () => {
    const oauth = token.oauth;
    if (oauth === undefined) throw new Error('oauth not configured');
    const { client } = await oauth.clients.create({
      name: 'app',
      authMethod: 'none',
      grantTypes: ['authorization_code'],
      redirectUris: ['https://app.example/cb'],
      scopes: ['openid'],
    });
    const report = await probeTokenEdge(oauth.issuer, {
      id: client.id,
      redirectUri: 'https://app.example/cb',
    });
    expect(report.results.map((r) => [r.check, r.pass, r.skipped])).toEqual([
      ['login_csrf_cookie', true, false],
      ['login_form_action', true, false],
      ['enrollment_link_forged', true, false],
      ['introspect_unauthenticated', true, false],
    ]);
    expect(report.results[0]?.observed).toBe(
      '__Host-zm_login_csrf=…; Path=/; Secure; HttpOnly; SameSite=Strict',
    );
    expect(report.results[1]?.observed).toBe("form-action 'self' https://app.example");
    expect(report.ok).toBe(true);
    const noClient = await probeTokenEdge(oauth.issuer, null);
    expect(noClient.ok).toBe(true);
    expect(noClient.results.filter((r) => r.skipped).map((r) => r.check)).toEqual([
      'login_csrf_cookie',
      'login_form_action',
    ]);
  });

  it('fails on the old login page and names what it observed', async () => {
    const base = `http://127.0.0.1:${(legacy.address() as AddressInfo).port}`;
    const report = await probeTokenEdge(base, { id: 'cli_x', redirectUri: 'https://app.example/cb' });
    expect(report.ok).toBe(false);
    expect(report.results.filter((r) => !r.pass).map((r) => [r.check, r.observed])).toEqual([
      ['login_csrf_cookie', 'zm_login_csrf=…; Path=/oauth/authorize; HttpOnly; SameSite=Strict'],
      ['login_form_action', "form-action 'self'"],
      ['enrollment_link_forged', 'HTTP 404'],
      ['introspect_unauthenticated', 'HTTP 200'],
    ]);
  });
});
