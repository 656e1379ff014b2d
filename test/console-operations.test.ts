// The web console's operator pages (issue 15, second part) in headless Chromium against a whole mesh started by
// `zenmesh up`: certificates (every SVID, the CA and bundle; a CA rotation started, aborted, and watched to
// completion), refusals by reason live on the overview, an event's trace id with its Jaeger link, and
// connections with a malformed filter refused at its position. And the refusals: a tenant's admin reaches none
// of the CA, by page or by API; a rotation without the anti-forgery token is 403 and starts nothing.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TOTP, URI } from 'otpauth';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  enrollTotp,
  freshCode,
  launchChromium,
  previousStepCode,
  screenshot,
  signIn,
} from './support/console-browser.js';
import { createTestDatabase } from './support/database.js';
import { signGeneric } from './support/generic-signature.js';
import { CLI, type RunningMesh, startMesh } from './support/mesh.js';
import { startOtlpReceiver } from './support/otlp-receiver.js';
import { startTarget } from './support/target.js';

const PASSWORD = 'correct horse battery staple';
const SECRET = 'ops-source-secret';
const JAEGER = 'http://127.0.0.1:16686';
const TTL = 20;
let db: Awaited<ReturnType<typeof createTestDatabase>>;
let otlp: Awaited<ReturnType<typeof startOtlpReceiver>>;
let target: Awaited<ReturnType<typeof startTarget>>;
let mesh: RunningMesh;
let browser: Browser;
let tenant = '';
let sourceId = '';
const pages: Record<'owner' | 'tenantAdmin', { page: Page; csp: string[] }> = {} as never;

interface CaStatus {
  authorities: Array<{ id: string; state: string }>;
  workloads: Array<{ spiffeId: string; issuer: string }>;
  rotation?: { id: string; phase: string; history: Array<{ phase: string }> };
}

const bff = () => mesh.endpoints.bff;

function cliWithStdin<T>(args: string[], stdin: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args, '--json'], {
      env: { ...process.env, ZENMESH_HOME: mesh.home },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      err += d.toString();
    });
    child.on('error', reject);
    child.on('close', (code) =>
      code === 0 ? resolve(JSON.parse(out) as T) : reject(new Error(`zenmesh ${args.join(' ')}: ${err}`)),
    );
    child.stdin.end(`${stdin}\n`);
  });
}

/** A tenant's admin with password + TOTP (enrolled by the admin key's link), signed in to the console. */
async function tenantAdminSignedIn(name: string, tenantId: string) {
  const { userId } = await cliWithStdin<{ userId: string }>(
    ['user', 'create', name, '--role', 'admin', '--tenant', tenantId, '--password-stdin'],
    PASSWORD,
  );
  const link = await mesh.cli<{ enrollmentUrl: string }>('user', 'totp', 'reset', userId);
  const totp: TOTP = await enrollTotp(browser, link.enrollmentUrl, PASSWORD);
  const code = await freshCode(totp, new Set());
  return signIn(await browser.newContext(), bff(), { username: name, password: PASSWORD, code });
}

/**
 * The cluster owner (a cluster-wide admin): nobody outranks them, so nobody can issue their enrollment link.
 * They sign in with the password alone while they have no factor, enroll one on the Users page, sign out,
 * and sign in again with password + TOTP.
 */
async function ownerSignedIn(name: string) {
  await cliWithStdin(['user', 'create', name, '--role', 'admin', '--password-stdin'], PASSWORD);
  const first = await browser.newContext();
  const { page } = await signIn(first, bff(), { username: name, password: PASSWORD, code: '' });
  await page.evaluate((t) => sessionStorage.setItem('zm-tenant', t), tenant);
  await page.goto(`${bff()}/console/#/users`);
  await page.reload();
  const enroll = 'form[aria-label="Enroll an authenticator"]';
  await page.fill(`${enroll} input[name=password]`, PASSWORD);
  await page.click(`${enroll} button[type=submit]`);
  const uri = URI.parse((await page.locator('#totp-secret .secret').textContent()) ?? '');
  if (!(uri instanceof TOTP)) throw new Error('expected a TOTP URI');
  await page.fill(
    'form[aria-label="Confirm the authenticator"] input[name=code]',
    await previousStepCode(uri),
  );
  await page.click('form[aria-label="Confirm the authenticator"] button[type=submit]');
  await page.waitForSelector('#totp-done');
  await first.close();
  const code = await freshCode(uri, new Set());
  const again = await signIn(await browser.newContext(), bff(), { username: name, password: PASSWORD, code });
  await again.page.evaluate((t) => sessionStorage.setItem('zm-tenant', t), tenant);
  await again.page.reload();
  await again.page.waitForSelector('#who');
  return again;
}

/** A console API call from the page itself: with the session cookie, and the CSRF token unless `forge`. */
const call = async (page: Page, method: string, path: string, forge = false) => {
  const csrf = forge ? '' : ((await page.getAttribute('meta[name="csrf-token"]', 'content')) ?? '');
  return page.evaluate(
    async ([m, p, token]) => {
      const res = await fetch(`/console/api/v1${p}`, {
        method: m,
        headers: { 'content-type': 'application/json', ...(token ? { 'x-csrf-token': token } : {}) },
        ...(m === 'GET' ? {} : { body: '{}' }),
      });
      return { status: res.status, body: (await res.json()) as Record<string, unknown> };
    },
    [method, path, csrf] as const,
  );
};

async function webhook(secret: string, body: unknown): Promise<Response> {
  const text = JSON.stringify(body);
  return fetch(`${mesh.endpoints.ingester}/v1/webhooks/${sourceId}`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      'x-event-type': 'order.created',
      ...signGeneric(secret, text),
    },
    body: text,
  });
}

beforeAll(async () => {
  db = await createTestDatabase('zm_console_ops');
  [otlp, target] = await Promise.all([startOtlpReceiver(), startTarget(200)]);
  mesh = await startMesh(
    {
      DATABASE_URL: db.url,
      // Short SVIDs: a CA rotation retires the old CA once its last SVID expired (at most one TTL).
      ZENMESH_SVID_TTL: String(TTL),
      OTEL_EXPORTER_OTLP_ENDPOINT: otlp.url,
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
      OTEL_METRICS_EXPORTER: 'none',
      OTEL_LOGS_EXPORTER: 'none',
      JAEGER_UI_URL: JAEGER,
    },
    90_000,
  );
  browser = await launchChromium();
  tenant = (await mesh.cli<{ tenant: { id: string } }>('tenant', 'create', 'ops')).tenant.id;
  sourceId = (
    await mesh.cli<{ source: { id: string } }>(
      'source',
      'create',
      '--tenant',
      tenant,
      '--provider',
      'generic',
      '--secret',
      SECRET,
    )
  ).source.id;
  await mesh.cli('endpoint', 'create', '--tenant', tenant, '--url', target.url);
  pages.owner = await ownerSignedIn('olga');
  pages.tenantAdmin = await tenantAdminSignedIn('tess', tenant);
}, 180_000);

afterAll(async () => {
  await browser?.close();
  if (mesh !== undefined && mesh.process.exitCode !== null) console.error(mesh.output().slice(-4000));
  const code = await mesh?.stop();
  await Promise.all([otlp?.close(), target?.close()]);
  await db?.drop();
  expect(code).toBe(0);
}, 60_000);

describe('certificates: the cluster owner only', { timeout: 60_000 }, () => {
  it('refuses a tenant’s admin the CA by page and by API, and starts no rotation for them', async () => {
    const { page } = pages.tenantAdmin;
    expect(await page.locator('a[href="#/certificates"]').count()).toBe(0);
    await page.goto(`${bff()}/console/#/certificates`);
    await page.waitForSelector('text=Forbidden: this is not yours to see.');
    expect(await call(page, 'GET', '/ca')).toEqual({ status: 403, body: { error: 'forbidden' } });
    expect((await call(page, 'POST', '/ca/rotate')).status).toBe(403);
    expect((await call(page, 'POST', '/ca/rotation/abort')).status).toBe(403);
    expect((await call(page, 'GET', '/refusals')).status).toBe(403);
    expect((await mesh.cli<CaStatus>('ca', 'status')).rotation).toBeUndefined();
  });

  it('shows every workload SVID with its expiry, the CA and the bundle', async () => {
    const { page } = pages.owner;
    await page.goto(`${bff()}/console/#/certificates`);
    await page.waitForSelector('caption:has-text("workload SVIDs")');
    const status = await mesh.cli<CaStatus>('ca', 'status');
    for (const w of status.workloads) await page.waitForSelector(`td:has-text("${w.spiffeId}")`);
    expect(
      await page.locator('caption:has-text("workload SVIDs") >> xpath=..').locator('tbody tr').count(),
    ).toBe(status.workloads.length);
    expect(await page.textContent('#ca')).toMatch(/trust bundle version \d+ \(1 CA\)/);
    expect(await page.textContent('#ca')).toMatch(/in \d+ s\)/); // SVIDs of 20 s show their time left
    await screenshot(page, 'certificates');
  });

  it('refuses a rotation without the anti-forgery token: 403, nothing started', async () => {
    const forged = await call(pages.owner.page, 'POST', '/ca/rotate', true);
    expect(forged.status).toBe(403);
    expect((await mesh.cli<CaStatus>('ca', 'status')).rotation).toBeUndefined();
  });

  it('starts a rotation and aborts it: rolled back, the old CA still active', async () => {
    const { page } = pages.owner;
    const before = await mesh.cli<CaStatus>('ca', 'status');
    await page.fill('form[aria-label="Start CA rotation"] input[name=canaries]', 'egress');
    await page.click('form[aria-label="Start CA rotation"] button[type=submit]');
    await page.click('#rotation-abort', { timeout: 10_000 });
    await page.waitForSelector('#rotation-phase:has-text("rolled_back")', { timeout: 60_000 });
    expect(await page.textContent('#rotation')).toContain('aborted: by the operator');
    const after = await mesh.cli<CaStatus>('ca', 'status');
    expect(after.rotation?.phase).toBe('rolled_back');
    expect(after.authorities.find((a) => a.state === 'active')?.id).toBe(
      before.authorities.find((a) => a.state === 'active')?.id,
    );
  });

  it(
    'starts a CA rotation and watches it complete, live; a second start meanwhile is refused',
    async () => {
      const { page } = pages.owner;
      const oldCa = (await mesh.cli<CaStatus>('ca', 'status')).authorities.find(
        (a) => a.state === 'active',
      )?.id;
      await page.fill('form[aria-label="Start CA rotation"] input[name=canaries]', 'egress');
      await page.click('form[aria-label="Start CA rotation"] button[type=submit]');
      await page.waitForSelector('#rotation-phase:not(:has-text("rolled_back"))');
      await page.click('form[aria-label="Start CA rotation"] button[type=submit]');
      await page.waitForSelector('form[aria-label="Start CA rotation"] .alert:has-text("is still")');
      await page.waitForSelector('#rotation-phase:has-text("completed")', { timeout: 4 * TTL * 1000 });
      expect(await page.textContent('#ca')).not.toMatch(/\bnull\b|undefined/);
      const history = await page.locator('#rotation-history li strong').allTextContents();
      expect(history).toEqual([
        'preparing',
        'distributing',
        'canary',
        'probing',
        'rolling_out',
        'retiring',
        'completed',
      ]);
      await screenshot(page, 'certificates-rotation');
      const after = await mesh.cli<CaStatus>('ca', 'status');
      const newCa = after.authorities.find((a) => a.state === 'active')?.id;
      expect(newCa).not.toBe(oldCa);
      expect(new Set(after.workloads.map((w) => w.issuer))).toEqual(new Set([newCa]));
      expect(pages.owner.csp).toEqual([]);
    },
    6 * TTL * 1000,
  );
});

describe('overview, events and connections', { timeout: 60_000 }, () => {
  it('shows refusals by reason from the services’ metrics, live without a reload', async () => {
    const { page } = pages.owner;
    await page.goto(`${bff()}/console/#/overview`);
    await page.waitForSelector('caption:has-text("Webhooks refused at the ingester")');
    const row = page.locator('#refusals tr:has(td:text-is("signature_mismatch")) td').nth(1);
    const before = (await row.count()) === 0 ? 0 : Number(await row.textContent());
    for (let i = 0; i < 2; i++) expect((await webhook('not-the-secret', { i })).status).toBe(401);
    // Redrawn every 3 s by the page itself: no reload.
    const deadline = Date.now() + 15_000;
    while (Number((await row.count()) === 0 ? 0 : await row.textContent()) !== before + 2) {
      expect(Date.now()).toBeLessThan(deadline);
      await new Promise((r) => setTimeout(r, 500));
    }
    expect(await page.textContent('#refusals')).toMatch(/from (\d+) of \1 services' \/metrics/);
    await screenshot(page, 'overview-refusals');
    // A tenant's user is told the figure is the cluster owner's, and reads none of it.
    await pages.tenantAdmin.page.goto(`${bff()}/console/#/overview`);
    await pages.tenantAdmin.page.waitForSelector('#refusals:has-text("the cluster’s owner sees them")');
  });

  it('shows an event’s trace id, as `zenmesh events show` prints it, linked to Jaeger', async () => {
    const res = await webhook(SECRET, { order: 7 });
    expect(res.status).toBe(202);
    const { id } = (await res.json()) as { id: string };
    const shown = await mesh.cli<{ event: { traceId: string } }>('events', 'show', id, '--tenant', tenant);
    expect(shown.event.traceId).toMatch(/^[0-9a-f]{32}$/);
    const { page } = pages.tenantAdmin;
    await page.goto(`${bff()}/console/#/event/${id}`);
    await page.waitForSelector('#trace-id');
    expect(await page.textContent('#trace-id')).toBe(shown.event.traceId);
    expect(await page.getAttribute('#trace-link', 'href')).toBe(`${JAEGER}/trace/${shown.event.traceId}`);
  });

  it('creates and deletes a connection; a malformed filter is refused at its position and stores nothing', async () => {
    const { page } = pages.tenantAdmin;
    await page.goto(`${bff()}/console/#/connections`);
    const f = 'form[aria-label="Create connection"]';
    await page.waitForSelector(`${f} select[name=sourceId]`);
    await page.fill(`${f} textarea[name=filter]`, 'body.amount >');
    await page.click(`${f} button[type=submit]`);
    await page.waitForSelector('#connection-refusal:has-text("Filter refused at line 1, column 13")');
    expect(await page.textContent('#connection-refusal pre')).toBe('body.amount >\n            ^');
    const list = () => mesh.cli<{ connections: unknown[] }>('connection', 'list', '--tenant', tenant);
    expect((await list()).connections).toEqual([]);
    await screenshot(page, 'connections-refused');

    await page.fill(`${f} textarea[name=filter]`, 'body.order > 5');
    await page.click(`${f} button[type=submit]`);
    const created = (await page.locator('#created').textContent()) ?? '';
    const connectionId = /con_[a-z2-7]+/.exec(created)?.[0] ?? '';
    await page.waitForSelector(`td:has-text("${connectionId}")`);
    await page.waitForSelector('td code:text-is("body.order > 5")');
    await screenshot(page, 'connections');
    expect((await list()).connections).toHaveLength(1);
    await page.click(`button[data-delete="${connectionId}"]`);
    await page.waitForSelector('#status:has-text("Deleted")');
    expect((await list()).connections).toEqual([]);
    expect(pages.tenantAdmin.csp).toEqual([]);
  });
});

describe('zenmesh console register (what compose and Helm run once)', () => {
  it('registers the console for a public origin, writes its client file 0600, and changes nothing the second time', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'zm-console-register-'));
    try {
      const file = join(dir, 'console-client.json');
      const args = [
        'console',
        'register',
        '--file',
        file,
        '--public-url',
        'http://localhost:3999/ignored/path',
      ];
      const first = await mesh.cli<{ registered: boolean; redirectUri: string }>(...args);
      expect(first).toEqual({
        registered: true,
        file,
        redirectUri: 'http://localhost:3999/console/callback',
      });
      expect(statSync(file).mode & 0o777).toBe(0o600);
      const written = JSON.parse(readFileSync(file, 'utf8')) as Record<string, string>;
      expect(Object.keys(written).sort()).toEqual(['clientId', 'clientSecret', 'redirectUri']);
      const { clients } = await mesh.cli<{ clients: Array<{ id: string; redirectUris: string[] }> }>(
        'oauth-client',
        'list',
      );
      expect(clients.find((c) => c.id === written.clientId)?.redirectUris).toEqual([first.redirectUri]);
      expect((await mesh.cli<{ registered: boolean }>(...args)).registered).toBe(false);
      // Refused before anything is registered: a public URL that is not http(s).
      const bad = await mesh.cliRaw(
        'console',
        'register',
        '--file',
        join(dir, 'x.json'),
        '--public-url',
        'ftp://x',
      );
      expect(bad.code).not.toBe(0);
      expect(bad.stderr).toContain('--public-url must be an http(s) URL');
      const after = await mesh.cli<{ clients: unknown[] }>('oauth-client', 'list');
      expect(after.clients).toHaveLength(clients.length);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
