import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { SCOPES } from '@zenmesh/auth';
import { CliError } from '../errors.js';

/** Where the bff finds the console's OAuth registration (ZENMESH_CONSOLE_CLIENT_FILE). */
export const CONSOLE_CLIENT_FILE = 'console-client.json';

// Sign-in (openid, a refresh token) and every API scope: what a console user may do is bounded by their role.
const CONSOLE_SCOPES = ['openid', 'offline_access', ...SCOPES];

/**
 * Registers the web console as a confidential OAuth client of the token service (through the bff's
 * /api/v1/oauth-clients with the admin key) unless `file` already holds a registration for this bff's
 * address, and writes `{clientId, clientSecret, redirectUri}` there (mode 0600). The bff reads it at sign-in.
 */
export async function ensureConsoleClient(file: string, bffUrl: string, adminKey: string): Promise<boolean> {
  const redirectUri = `${new URL(bffUrl).origin}/console/callback`;
  if (existsSync(file)) {
    try {
      const known = JSON.parse(readFileSync(file, 'utf8')) as { redirectUri?: unknown };
      if (known.redirectUri === redirectUri) return false;
    } catch {
      // Unreadable: register again.
    }
  }
  const res = await fetch(`${bffUrl}/api/v1/oauth-clients`, {
    method: 'POST',
    headers: { authorization: `Bearer ${adminKey}`, 'content-type': 'application/json' },
    body: JSON.stringify({
      name: 'zenmesh-console',
      redirectUris: [redirectUri],
      grantTypes: ['authorization_code', 'refresh_token'],
      tokenEndpointAuthMethod: 'client_secret_basic',
      scopes: CONSOLE_SCOPES,
    }),
  });
  const body = (await res.json()) as { clientId?: string; clientSecret?: string; error?: string };
  if (res.status !== 201 || !body.clientId || !body.clientSecret) {
    throw new CliError(
      'ERR_START_FAILED',
      `registering the console client failed: ${res.status} ${body.error}`,
    );
  }
  const tmp = `${file}.tmp`;
  writeFileSync(
    tmp,
    `${JSON.stringify({ clientId: body.clientId, clientSecret: body.clientSecret, redirectUri }, null, 2)}\n`,
    { mode: 0o600 },
  );
  renameSync(tmp, file);
  return true;
}
