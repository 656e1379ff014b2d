// Driving the web console in Debian's Chromium (playwright-core; never downloads a browser): launch, TOTP
// enrollment through the token service's reset-link page, and sign-in with password + TOTP.
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { TOTP } from 'otpauth';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';
import { expect } from 'vitest';

export const CHROMIUM = '/usr/bin/chromium';
const ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];

export async function launchChromium(): Promise<Browser> {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: apt-get install -y chromium`);
  return chromium.launch({ executablePath: CHROMIUM, args: ARGS });
}

/**
 * The previous 30 s step's code: valid (±1 step) but leaves the current step's code for the next use (a step
 * is accepted once). Waits out the last 5 s of a step so the code is still valid when the server checks.
 */
export async function previousStepCode(totp: TOTP): Promise<string> {
  const into = Date.now() % 30_000;
  if (into > 25_000) await new Promise((r) => setTimeout(r, 30_000 - into + 50));
  return totp.generate({ timestamp: Date.now() - 30_000 });
}

/** A code of a step not used yet: the current one, or the next one once `used` holds it. */
export async function freshCode(totp: TOTP, used: Set<string>): Promise<string> {
  for (;;) {
    const code = totp.generate();
    if (!used.has(code) && Date.now() % 30_000 < 25_000) {
      used.add(code);
      return code;
    }
    await new Promise((r) => setTimeout(r, 1000));
  }
}

/** Opens a TOTP reset link in the browser, enters the password, reads the secret, confirms it. */
export async function enrollTotp(browser: Browser, link: string, password: string): Promise<TOTP> {
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto(link);
  await page.fill('input[name=password]', password);
  await Promise.all([page.waitForSelector('code'), page.click('button[type=submit]')]);
  const secretText = await page.locator('p:has-text("Secret:") code').textContent();
  const totp = new TOTP({ secret: (secretText ?? '').trim() });
  await page.fill('input[name=code]', await previousStepCode(totp));
  // Wait for the confirmation's answer itself: closing the context before it arrives would abort the POST and
  // leave the factor unconfirmed (a later sign-in then fails for a reason no test asserts).
  const answer = page.waitForResponse((r) => r.request().method() === 'POST');
  await page.click('button[type=submit]');
  expect((await answer).status()).toBe(200);
  await page.waitForSelector('text=Sign in with your new authenticator');
  await context.close();
  return totp;
}

/** Console pages record every CSP report Chromium prints; a test asserts the list is empty. */
export function watchCsp(page: Page): string[] {
  const blocked: string[] = [];
  page.on('console', (m) => {
    if (/Content Security Policy|Trusted Type/i.test(m.text())) blocked.push(m.text());
  });
  return blocked;
}

/** Signs in at `${bff}/console/` through the token service's login page; resolves on the console's shell. */
export async function signIn(
  context: BrowserContext,
  bff: string,
  user: { username: string; password: string; code: string },
): Promise<{ page: Page; csp: string[] }> {
  const page = await context.newPage();
  const csp = watchCsp(page);
  await page.goto(`${bff}/console/`);
  expect(page.url()).toContain('/oauth/authorize');
  await page.fill('input[name=username]', user.username);
  await page.fill('input[name=password]', user.password);
  await page.fill('input[name=totp]', user.code);
  await Promise.all([
    page.waitForURL(`${bff}/console/`, { timeout: 20_000 }),
    page.click('button[type=submit]'),
  ]);
  await page.waitForSelector('#who');
  return { page, csp };
}

/** Writes `docs/screenshots/<name>.png` when ZENMESH_CONSOLE_SCREENSHOTS names the directory. */
export async function screenshot(page: Page, name: string): Promise<void> {
  const dir = process.env.ZENMESH_CONSOLE_SCREENSHOTS;
  if (!dir) return;
  mkdirSync(dir, { recursive: true });
  await page.screenshot({ path: join(dir, `${name}.png`), fullPage: true });
}
