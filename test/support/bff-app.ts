import { type BffApp, createBffApp } from '@zenmesh/bff';
import { createDatabase, createScratchDatabase, type Db, type ScratchDatabase } from '@zenmesh/db';
import { createLogger } from '@zenmesh/telemetry';
import { type ApiKeyStore, createApiKeyVerifier, generateApiKey, openTokenStore } from '@zenmesh/token';
import { afterAll, beforeAll, expect } from 'vitest';

// ---- a small in-test backend: the real one is another service; this one records what it was asked ----

import { ACME, createTestBackend, SIGNING_SECRET, SOURCE_SECRET } from './bff-test-backend.js';

export interface Reply {
  status: number;
  body: unknown;
  headers: Headers;
}

/** The new endpoint fields as the in-test backend leaves them (proto defaults). */
export const ENDPOINT_DEFAULTS = {
  maxConcurrency: 0,
  cloudeventsMode: '',
  disabledReason: null,
  disabledAt: null,
  consecutiveFailures: 0,
  hasClientCert: false,
  previousSecretExpiresAt: null,
  rateLimit: null,
  ordering: null,
};

/** Starts the app before the file's tests and stops it after; the fields fill in once it runs. */
export function useBffApp() {
  let scratch: ScratchDatabase | undefined;
  let db: Db | undefined;
  let store: ApiKeyStore | undefined;
  let app: BffApp | undefined;
  let base = '';
  let verifyCalls = 0;
  const calls: Array<{ method: string; req: unknown }> = [];
  const logLines: string[] = [];
  const keys = { admin: '', acme: '', readOnly: '', revoked: '', unknown: generateApiKey() };

  beforeAll(async () => {
    scratch = await createScratchDatabase(process.env.DATABASE_URL ?? '', 'zm_test_bff');
    db = await createDatabase({ url: scratch.url });
    const opened = await openTokenStore({ db, logger: createLogger('token', { level: 'silent' }) });
    store = opened;
    keys.admin = (await opened.create({ name: 'admin', scopes: ['admin'] })).apiKey;
    keys.acme = (await opened.create({ name: 'acme-admin', scopes: ['admin'], tenantId: ACME.id })).apiKey;
    keys.readOnly = (await opened.create({ name: 'reader', scopes: ['read'] })).apiKey;
    const revoked = await opened.create({ name: 'gone', scopes: ['admin'] });
    await opened.revoke(revoked.record.id);
    keys.revoked = revoked.apiKey;
    const verify = createApiKeyVerifier(opened);
    app = createBffApp({
      backend: createTestBackend(calls).backend,
      verifyApiKey: async (key) => {
        verifyCalls += 1;
        return verify(key);
      },
      logger: createLogger('bff', {
        level: 'debug',
        destination: { write: (line: string) => void logLines.push(line) },
      }),
      ingestPublicUrl: 'https://hooks.example.com/',
    });
    base = await app.listen('127.0.0.1:0');
  });

  afterAll(async () => {
    await app?.close();
    await db?.close();
    await scratch?.drop();
  });

  async function call(
    method: string,
    path: string,
    opts: { key?: string; body?: string | object } = {},
  ): Promise<Reply> {
    const headers: Record<string, string> = {};
    if (opts.key !== undefined) headers.authorization = `Bearer ${opts.key}`;
    let body: string | undefined;
    if (opts.body !== undefined) {
      headers['content-type'] = 'application/json';
      body = typeof opts.body === 'string' ? opts.body : JSON.stringify(opts.body);
    }
    const res = await fetch(`${base}${path}`, { method, headers, ...(body === undefined ? {} : { body }) });
    const text = await res.text();
    const isJson = res.headers.get('content-type')?.startsWith('application/json') ?? false;
    return { status: res.status, body: isJson ? JSON.parse(text) : text, headers: res.headers };
  }

  return {
    calls,
    logLines,
    keys,
    call,
    base: () => base,
    store: () => store as ApiKeyStore,
    verifyCalls: () => verifyCalls,
    lastCall: (method: string) => calls.filter((c) => c.method === method).at(-1)?.req,
  };
}

/**
 * Runs last in a file: by then every key has been presented, valid or not. Every request was logged with its
 * key id, failures (500s) with their detail when `failures`, and no API key or secret ever reached a line.
 */
export function expectLogsWithoutSecrets(
  bff: ReturnType<typeof useBffApp>,
  options: { failures?: boolean } = {},
) {
  const log = bff.logLines.join('');
  const requestLines = bff.logLines
    .map((l) => JSON.parse(l) as Record<string, unknown>)
    .filter((l) => l.msg === 'request');
  expect(requestLines.length).toBeGreaterThan(5);
  expect(
    requestLines.some((l) => typeof l.keyId === 'string' && (l.keyId as string).startsWith('key_')),
  ).toBe(true);
  if (options.failures) expect(log).toContain('request failed');
  const { keys } = bff;
  for (const secret of [
    keys.admin,
    keys.acme,
    keys.readOnly,
    keys.revoked,
    keys.unknown,
    SOURCE_SECRET,
    SIGNING_SECRET,
  ]) {
    expect(log).not.toContain(secret);
    expect(log).not.toContain(secret.slice(3, 24));
  }
}
