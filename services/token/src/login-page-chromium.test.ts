// The login page in a real browser (issue 12, defect 8): headless Chromium runs the authorization-code + PKCE
// flow of a client on another origin, whose back end is openid-client. It proves the __Host- Secure CSRF
// cookie works on loopback http, and that the page's CSP lets the form's redirect reach the client.
import { existsSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import * as oidc from 'openid-client';
import { type Browser, chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { insecure, PASSWORD, startTokenHarness, type TokenHarness } from './test-kit/token-harness.js';

const CHROMIUM = '/usr/bin/chromium';
const ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];

let h: TokenHarness;
let browser: Browser;
const servers: Server[] = [];

const listen = async (server: Server, host: string) => {
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, host, r));
  return (server.address() as AddressInfo).port;
};

/**
 * A relying party on its own origin (`localhost`, while the token service is `127.0.0.1`: another site),
 * doing what a real one does with openid-client: redirect to /authorize with PKCE, take the callback, redeem
 * the code with its secret, show who signed in.
 */
async function startClient(): Promise<{ origin: string }> {
  const server = createServer();
  const port = await listen(server, '127.0.0.1');
  const origin = `http://localhost:${port}`;
  const { client, clientSecret } = await h.oauth.clients.create({
    name: 'Cross-origin app',
    authMethod: 'client_secret_post',
    grantTypes: ['authorization_code'],
    redirectUris: [`${origin}/callback`],
    scopes: ['openid', 'events:read'],
  });
  const config = await oidc.discovery(
    new URL(h.issuer),
    client.id,
    undefined,
    oidc.ClientSecretPost(clientSecret ?? ''),
    insecure,
  );
  const verifier = oidc.randomPKCECodeVerifier();
  server.on('request', (req, res) => {
    void (async () => {
      const url = new URL(req.url ?? '/', origin);
      if (url.pathname === '/login') {
        const to = oidc.buildAuthorizationUrl(config, {
          redirect_uri: `${origin}/callback`,
          scope: 'openid events:read',
          code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
          code_challenge_method: 'S256',
          state: 'chromium-state',
        });
        res.writeHead(302, { location: to.href }).end();
        return;
      }
      try {
        const tokens = await oidc.authorizationCodeGrant(config, url, {
          pkceCodeVerifier: verifier,
          expectedState: 'chromium-state',
        });
        res.writeHead(200, { 'content-type': 'text/html' }).end(`<p id="who">${tokens.claims()?.sub}</p>`);
      } catch (err) {
        res
          .writeHead(500, { 'content-type': 'text/plain' })
          .end(`callback failed: ${(err as Error).message}`);
      }
    })();
  });
  return { origin };
}

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: apt-get install -y chromium`);
  h = await startTokenHarness('token_chromium');
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS });
});
afterAll(async () => {
  await browser?.close();
  for (const s of servers) await new Promise((r) => s.close(r));
  await h?.stop();
});

describe('the login page in headless Chromium', () => {
  it('signs a user in to a cross-origin client: Secure __Host- cookie on loopback http, redirect allowed', async () => {
    const user = await h.newUser('reader');
    const { origin } = await startClient();
    const context = await browser.newContext();
    const page = await context.newPage();
    const blocked: string[] = [];
    page.on('console', (m) => {
      if (/Content Security Policy/i.test(m.text())) blocked.push(m.text());
    });
    const loginPage = await page.goto(`${origin}/login`);
    expect(new URL(page.url()).origin).toBe(h.issuer);
    expect(loginPage?.headers()['content-security-policy']).toContain(`form-action 'self' ${origin};`);
    const cookies = await context.cookies(h.issuer);
    expect(cookies.find((c) => c.name === '__Host-zm_login_csrf')).toMatchObject({
      secure: true,
      httpOnly: true,
      sameSite: 'Strict',
      path: '/',
    });
    await page.fill('input[name=username]', user.username);
    await page.fill('input[name=password]', PASSWORD);
    await Promise.all([
      page.waitForURL(`${origin}/callback?**`, { timeout: 10_000 }),
      page.click('button[type=submit]'),
    ]);
    expect(await page.textContent('#who')).toBe(user.id);
    expect(blocked).toEqual([]);
    await context.close();
  });

  it("shows why: under form-action 'self' Chromium blocks the same redirect (the old policy)", async () => {
    // Two bare servers reproduce the old login page's policy: a form posting to itself whose answer is a
    // 302 to another origin. Chromium applies form-action to the redirect and never reaches the target.
    let reached = false;
    const target = createServer((_req, res) => {
      reached = true;
      res.writeHead(200, { 'content-type': 'text/html' }).end('<p id="arrived">arrived</p>');
    });
    const targetOrigin = `http://localhost:${await listen(target, '127.0.0.1')}`;
    const form = createServer((req, res) => {
      if (req.method === 'POST') {
        res.writeHead(302, { location: `${targetOrigin}/callback?code=x` }).end();
        return;
      }
      res
        .writeHead(200, {
          'content-type': 'text/html',
          'content-security-policy': "default-src 'none'; form-action 'self'",
        })
        .end('<form method="post" action="/"><button type="submit">go</button></form>');
    });
    const formOrigin = `http://127.0.0.1:${await listen(form, '127.0.0.1')}`;
    const context = await browser.newContext();
    const page = await context.newPage();
    const violations: string[] = [];
    page.on('console', (m) => {
      if (/form-action/.test(m.text())) violations.push(m.text());
    });
    await page.goto(formOrigin);
    await page.click('button[type=submit]');
    await page.waitForTimeout(1_000);
    expect(reached).toBe(false);
    expect(violations.length).toBeGreaterThan(0);
    await context.close();
  });

  it('refuses a login whose CSRF cookie is missing, even in a real browser', async () => {
    const user = await h.newUser('reader');
    const { origin } = await startClient();
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(`${origin}/login`);
    await context.clearCookies();
    await page.fill('input[name=username]', user.username);
    await page.fill('input[name=password]', PASSWORD);
    const [answer] = await Promise.all([
      page.waitForResponse(
        (r) => r.url() === `${h.issuer}/oauth/authorize` && r.request().method() === 'POST',
      ),
      page.click('button[type=submit]'),
    ]);
    expect(answer.status()).toBe(403);
    expect(await page.textContent('[role=alert]')).toContain('Your sign-in form expired');
    await context.close();
  });
});
