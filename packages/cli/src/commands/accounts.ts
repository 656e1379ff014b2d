import { type Command, InvalidArgumentError } from 'commander';
import { CliError } from '../errors.js';
import type { ActionWrapper, ContextFactory } from './context.js';
import { enc } from './context.js';

interface User {
  id: string;
  username: string;
  mfaEnabled: boolean;
  memberships: Array<{ tenantId: string | null; role: string }>;
}

interface OAuthClient {
  id: string;
  name: string;
  tokenEndpointAuthMethod: string;
  redirectUris: string[];
  grantTypes: string[];
  scopes: string[];
}

const ROLES = ['admin', 'operator', 'reader'];
const role = (value: string) => {
  if (!ROLES.includes(value)) throw new InvalidArgumentError(`expected one of ${ROLES.join(', ')}`);
  return value;
};
const collect = (value: string, previous: string[] = []) => [...previous, value];
const list = (value: string) =>
  value
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0);

/** The whole of stdin without its final line break: passwords never travel in argv (visible in `ps`). */
async function readPasswordFromStdin(stdin: NodeJS.ReadStream = process.stdin): Promise<string> {
  if (stdin.isTTY) throw new CliError('ERR_USAGE', 'pipe the password on stdin (e.g. printf %s "$PW" | …)');
  const chunks: Buffer[] = [];
  for await (const chunk of stdin) chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
  const text = Buffer.concat(chunks)
    .toString('utf8')
    .replace(/\r?\n$/, '');
  if (text.length === 0) throw new CliError('ERR_USAGE', 'no password on stdin');
  return text;
}

const userRows = (users: User[]) =>
  users.map((u) => ({
    id: u.id,
    username: u.username,
    mfa: u.mfaEnabled ? 'yes' : 'no',
    roles: u.memberships.map((m) => `${m.role}@${m.tenantId ?? 'cluster'}`).join(' '),
  }));

/**
 * `zenmesh user create|list`, `zenmesh user totp reset|enroll|confirm` and `zenmesh oauth-client create|list`
 * (scope keys:admin, except enroll/confirm, which only the user themself may run, with their own login token).
 */
export function registerAccountCommands(program: Command, ctx: ContextFactory, action: ActionWrapper): void {
  const user = program.command('user').description('manage login users (scope keys:admin)');
  user
    .command('create <username>')
    .description('create a user; the password is read from stdin, never from the command line')
    .requiredOption('--role <role>', 'admin, operator or reader', role)
    .option('--tenant <id>', 'the tenant of the membership (ten_…); default: cluster-wide')
    .option('--password-stdin', 'read the password from stdin (required)')
    .action(
      action(async (username: string, o: { role: string; tenant?: string; passwordStdin?: boolean }) => {
        if (o.passwordStdin !== true) throw new CliError('ERR_USAGE', '--password-stdin is required');
        const password = await readPasswordFromStdin();
        const { out, api } = ctx();
        const res = await api().post<{ userId: string; user: User }>('/api/v1/users', {
          username,
          password,
          role: o.role,
          ...(o.tenant === undefined ? {} : { tenantId: o.tenant }),
        });
        out.result(res, () => out.line(`Created user ${res.user.username} (${res.userId}) as ${o.role}`));
        return 0;
      }),
    );
  user
    .command('list')
    .description('list users and their roles')
    .option('--tenant <id>', 'only members of this tenant')
    .action(
      action(async (o: { tenant?: string }) => {
        const { out, api } = ctx();
        const res = await api().get<{ users: User[] }>(
          `/api/v1/users${o.tenant === undefined ? '' : `?tenant=${enc(o.tenant)}`}`,
        );
        out.result(res, () => out.table(userRows(res.users), ['id', 'username', 'mfa', 'roles']));
        return 0;
      }),
    );
  const totp = user
    .command('totp')
    .description(
      'TOTP second factor: an admin resets it with a one-time link; the user enrolls and confirms',
    );
  totp
    .command('reset <id>')
    .description(
      'issue a one-time enrollment link for the user (needs a strictly higher rank); prints the link, never a secret',
    )
    .action(
      action(async (id: string) => {
        const { out, api } = ctx();
        const res = await api().post<{ enrollmentUrl: string; expiresAt: string; user: User }>(
          `/api/v1/users/${enc(id)}/totp/reset`,
          {},
        );
        out.result(res, () => {
          out.line(`Enrollment link for ${res.user.username} (one use, expires ${res.expiresAt}):`);
          out.line(res.enrollmentUrl);
          out.line('Send it to the user only: it asks for their password, then shows the new secret.');
          if (res.user.mfaEnabled)
            out.line('Their current authenticator keeps working until they confirm the new one.');
        });
        return 0;
      }),
    );
  totp
    .command('enroll <id>')
    .description(
      'enroll (or replace) your own authenticator; run with your own login token as --api-key, the password on stdin',
    )
    .option('--password-stdin', 'read your password from stdin (required)')
    .option(
      '--current-code <code>',
      'a code of your current authenticator, or a recovery code (when one is active)',
    )
    .action(
      action(async (id: string, o: { passwordStdin?: boolean; currentCode?: string }) => {
        if (o.passwordStdin !== true) throw new CliError('ERR_USAGE', '--password-stdin is required');
        const password = await readPasswordFromStdin();
        const { out, api } = ctx();
        const res = await api().post<{ otpauthUri: string; recoveryCodes: string[] }>(
          `/api/v1/users/${enc(id)}/totp`,
          {
            password,
            ...(o.currentCode === undefined ? {} : { currentCode: o.currentCode }),
          },
        );
        out.result(res, () => {
          out.line('Add this to the authenticator app (shown once):');
          out.line(res.otpauthUri);
          out.line('Recovery codes (each works once; shown once, store them now):');
          for (const code of res.recoveryCodes) out.line(`  ${code}`);
          out.line('Your current authenticator, if any, keeps working until you confirm:');
          out.line(`  zenmesh user totp confirm ${id} <code>`);
        });
        return 0;
      }),
    );
  totp
    .command('confirm <id> <code>')
    .description('confirm your pending authenticator with a current code; it then replaces the old one')
    .action(
      action(async (id: string, code: string) => {
        const { out, api } = ctx();
        const res = await api().post<{ user: User }>(`/api/v1/users/${enc(id)}/totp/confirm`, { code });
        out.result(res, () => out.line(`TOTP is now required for ${res.user.username}`));
        return 0;
      }),
    );

  const client = program
    .command('oauth-client')
    .description('manage OAuth clients (scope keys:admin, cluster)');
  client
    .command('create <name>')
    .description('register an OAuth client; a confidential client secret is printed once')
    .option('--redirect-uri <uri>', 'exact redirect URI (repeatable): https, or http on loopback', collect)
    .option('--public', 'a public client (no secret): authorization_code + PKCE and refresh_token')
    .option('--grant-types <list>', 'comma-separated; default authorization_code,refresh_token', list)
    .option('--scopes <list>', 'comma-separated ceiling', list, ['openid', 'offline_access', 'events:read'])
    .option('--auth-method <m>', 'client_secret_basic or client_secret_post', 'client_secret_basic')
    .option(
      '--resource-audience <aud>',
      'audience this client serves as a resource server; it may then introspect those tokens (repeatable)',
      collect,
    )
    .action(
      action(
        async (
          name: string,
          o: {
            redirectUri?: string[];
            public?: boolean;
            grantTypes?: string[];
            scopes: string[];
            authMethod: string;
            resourceAudience?: string[];
          },
        ) => {
          const { out, api } = ctx();
          const res = await api().post<{
            clientId: string;
            clientSecret: string | null;
            client: OAuthClient;
          }>('/api/v1/oauth-clients', {
            name,
            redirectUris: o.redirectUri ?? [],
            grantTypes: o.grantTypes ?? ['authorization_code', 'refresh_token'],
            tokenEndpointAuthMethod: o.public === true ? 'none' : o.authMethod,
            scopes: o.scopes,
            resourceAudiences: o.resourceAudience ?? [],
          });
          out.result(res, () => {
            out.line(`Created OAuth client ${res.clientId} (${res.client.tokenEndpointAuthMethod})`);
            if (res.clientSecret !== null)
              out.line(`Client secret (shown once, store it now): ${res.clientSecret}`);
          });
          return 0;
        },
      ),
    );
  client
    .command('list')
    .description('list OAuth clients (never their secrets)')
    .action(
      action(async () => {
        const { out, api } = ctx();
        const res = await api().get<{ clients: OAuthClient[] }>('/api/v1/oauth-clients');
        out.result(res, () =>
          out.table(
            res.clients.map((c) => ({
              ...c,
              redirectUris: c.redirectUris.join(' '),
              grantTypes: c.grantTypes.join(' '),
              scopes: c.scopes.join(' '),
            })),
            ['id', 'name', 'tokenEndpointAuthMethod', 'grantTypes', 'redirectUris', 'scopes'],
          ),
        );
        return 0;
      }),
    );
}
