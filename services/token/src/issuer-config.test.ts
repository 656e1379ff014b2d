// Plain http is for a loopback issuer only (issue 12, defect 8): the login and enrollment pages set __Host-
// (Secure) cookies, which browsers accept over http only from loopback origins.
import type { Db } from '@zenmesh/db';
import { createLogger } from '@zenmesh/telemetry';
import { describe, expect, it } from 'vitest';
import { createOAuthServer } from './oauth-server.js';

const logger = createLogger('issuer-config-test', { level: 'silent' });
// The issuer is checked before the database or secrets are touched.
const noDb = {} as Db;

describe('the issuer URL', () => {
  it('refuses plain http on a non-loopback host with ERR_CONFIG', async () => {
    for (const issuer of ['http://token.example', 'http://10.0.0.5:4000', 'http://0.0.0.0:4000']) {
      await expect(
        createOAuthServer(noDb, logger, { issuer, secretsDir: '/nonexistent' }),
      ).rejects.toMatchObject({
        code: 'ERR_CONFIG',
        message: expect.stringContaining('plain http is only for a loopback host'),
      });
    }
  });

  it('lets https anywhere and http on loopback through to the next check', async () => {
    for (const issuer of [
      'https://token.example',
      'http://127.0.0.1:4000',
      'http://localhost:4000',
      'http://[::1]:4000',
    ]) {
      // The next thing it needs is the master key: the issuer itself was accepted.
      await expect(
        createOAuthServer(noDb, logger, { issuer, secretsDir: '/nonexistent' }),
      ).rejects.not.toMatchObject({
        message: expect.stringContaining('plain http'),
      });
    }
  });
});
