import { InvalidArgumentError } from 'commander';
import type { Output } from '../output.js';
import { registerAccountCommands } from './accounts.js';
import { enc, type RegisterCommands } from './context.js';

interface ApiKey {
  id: string;
  tenantId: string | null;
  name: string;
  scopes: string[];
  createdAt: string;
  expiresAt: string | null;
  revokedAt: string | null;
}

interface SigningKey {
  kid: string;
  alg: string;
  state: string;
  createdAt: string;
  retiredAt: string | null;
}

const printKeys = (out: Output, keys: SigningKey[]): void =>
  out.table(keys as unknown as Record<string, unknown>[], ['kid', 'alg', 'state', 'createdAt', 'retiredAt']);

const scopeList = (value: string): string[] => {
  const scopes = value
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
  // An empty list is not a wildcard: a key must name what it may do.
  if (scopes.length === 0) throw new InvalidArgumentError('expected a comma-separated list of scopes');
  return scopes;
};

const isoDate = (value: string): string => {
  const d = new Date(value);
  if (Number.isNaN(d.getTime()))
    throw new InvalidArgumentError('expected an ISO-8601 date, e.g. 2030-01-01T00:00:00Z');
  return d.toISOString();
};

/**
 * `zenmesh token keys rotate|list`, `zenmesh apikey create|list|revoke`, `zenmesh user …` and
 * `zenmesh oauth-client …`, over the bff's /api/v1.
 */
export const registerTokenCommands: RegisterCommands = (program, ctx, action) => {
  const keys = program
    .command('token')
    .description('the token service')
    .command('keys')
    .description('JWT signing keys');
  keys
    .command('rotate')
    .description('promote the pre-published next signing key and publish a new next key (scope admin)')
    .action(
      action(async () => {
        const { out, api } = ctx();
        const res = await api().post<{ keys: SigningKey[] }>('/api/v1/token/keys/rotate', {});
        out.result(res, () => {
          const current = res.keys.find((k) => k.state === 'current');
          out.line(
            `Signing with ${current?.kid ?? '?'} (${current?.alg ?? '?'}); retired keys stay published until their tokens expire.`,
          );
          printKeys(out, res.keys);
        });
        return 0;
      }),
    );
  keys
    .command('list')
    .description('list published signing keys (scope admin)')
    .action(
      action(async () => {
        const { out, api } = ctx();
        const res = await api().get<{ keys: SigningKey[] }>('/api/v1/token/keys');
        out.result(res, () => printKeys(out, res.keys));
        return 0;
      }),
    );

  const apikey = program.command('apikey').description('manage API keys (scope keys:admin)');
  apikey
    .command('create <name>')
    .description('create an API key; it is printed once and never again')
    .requiredOption('--scopes <list>', 'comma-separated, e.g. events:read,endpoints:write', scopeList)
    .option('--tenant <id>', 'bind the key to a tenant (ten_…)')
    .option('--expires <date>', 'ISO-8601 expiry', isoDate)
    .action(
      action(async (name: string, o: { scopes: string[]; tenant?: string; expires?: string }) => {
        const { out, api } = ctx();
        const res = await api().post<{ apiKey: string; key: ApiKey }>('/api/v1/api-keys', {
          name,
          scopes: o.scopes,
          ...(o.tenant === undefined ? {} : { tenantId: o.tenant }),
          ...(o.expires === undefined ? {} : { expiresAt: o.expires }),
        });
        out.result(res, () => {
          out.line(`Created API key ${res.key.id} (${res.key.scopes.join(' ')})`);
          out.line(`Key (shown once, store it now): ${res.apiKey}`);
        });
        return 0;
      }),
    );
  apikey
    .command('list')
    .description('list API keys (never the keys themselves)')
    .option('--tenant <id>', 'only this tenant')
    .action(
      action(async (o: { tenant?: string }) => {
        const { out, api } = ctx();
        const res = await api().get<{ keys: ApiKey[] }>(
          `/api/v1/api-keys${o.tenant === undefined ? '' : `?tenant=${enc(o.tenant)}`}`,
        );
        out.result(res, () =>
          out.table(
            res.keys.map((k) => ({ ...k, scopes: k.scopes.join(' ') })),
            ['id', 'name', 'tenantId', 'scopes', 'createdAt', 'expiresAt', 'revokedAt'],
          ),
        );
        return 0;
      }),
    );
  apikey
    .command('revoke <id>')
    .description('revoke an API key at once (tokens exchanged from it stop working too)')
    .action(
      action(async (id: string) => {
        const { out, api } = ctx();
        const res = await api().post<{ key: ApiKey }>(`/api/v1/api-keys/${enc(id)}/revoke`, {});
        out.result(res, () => out.line(`Revoked API key ${res.key.id} at ${res.key.revokedAt ?? '?'}`));
        return 0;
      }),
    );
  registerAccountCommands(program, ctx, action);
};
