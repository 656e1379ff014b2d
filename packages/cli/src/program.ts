import { Command, InvalidArgumentError, Option } from 'commander';
import { createApiClient } from './api-client.js';
import { CliError } from './errors.js';
import { readAdminKey, readEndpoints, zenmeshHome } from './home.js';
import { up } from './launcher/up.js';
import { listen } from './listen.js';
import { createOutput } from './output.js';

interface GlobalOptions {
  json?: boolean;
  home?: string;
  apiUrl?: string;
  apiKey?: string;
}

const port = (value: string) => {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n > 65535) throw new InvalidArgumentError('expected a port number 0-65535');
  return n;
};

const limit = (value: string) => {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n < 1 || n > 1000) throw new InvalidArgumentError('expected 1-1000');
  return n;
};

const enc = encodeURIComponent;

/** Builds the `zenmesh` command tree. `run` is called with the exit code when a command finishes. */
export function createProgram(run: (code: number) => void): Command {
  const program = new Command('zenmesh')
    .description('Zen Mesh: a self-hosted, zero-trust webhook mesh')
    .option('--json', 'print JSON instead of text')
    .option('--home <dir>', 'state directory (default $ZENMESH_HOME or .zenmesh)')
    .option('--api-url <url>', 'admin API base URL (default: the running mesh from endpoints.json)')
    .option('--api-key <key>', 'admin API key (default $ZENMESH_API_KEY or <home>/admin-api-key)')
    .showHelpAfterError()
    .configureOutput({ outputError: (text, write) => write(text) });

  const ctx = () => {
    const g = program.opts<GlobalOptions>();
    const home = g.home ? zenmeshHome({ ZENMESH_HOME: g.home }) : zenmeshHome();
    const out = createOutput(Boolean(g.json));
    const api = () => {
      const baseUrl = g.apiUrl ?? process.env.ZENMESH_API_URL ?? readEndpoints(home).bff;
      const key = g.apiKey ?? process.env.ZENMESH_API_KEY ?? readAdminKey(home);
      return createApiClient(baseUrl, key);
    };
    return { home, out, api };
  };

  const action =
    <A extends unknown[]>(fn: (...args: A) => Promise<number | undefined>) =>
    async (...args: A) => {
      run((await fn(...args)) ?? 0);
    };

  program
    .command('up')
    .description('start all six services on this machine (what `pnpm start` runs)')
    .addOption(new Option('--host <host>', 'address to listen on').default('127.0.0.1'))
    .addOption(new Option('--ingester-port <port>', 'ingester HTTP port').argParser(port).default(8080))
    .addOption(new Option('--bff-port <port>', 'dashboard/admin API HTTP port').argParser(port).default(3000))
    .addOption(new Option('--token-port <port>', 'token service HTTP port').argParser(port).default(4000))
    .addOption(new Option('--trust-domain <name>', 'SPIFFE trust domain').default('zenmesh.local'))
    .addOption(new Option('--namespace <name>', 'SPIFFE namespace').default('zenmesh'))
    .action(
      action(
        async (o: {
          host: string;
          ingesterPort: number;
          bffPort: number;
          tokenPort: number;
          trustDomain: string;
          namespace: string;
        }) => {
          const { home, out } = ctx();
          return up({ home, ...o }, out);
        },
      ),
    );

  program
    .command('listen')
    .description('run a local endpoint that prints deliveries and verifies their signatures')
    .addOption(new Option('--host <host>', 'address to listen on').default('127.0.0.1'))
    .addOption(new Option('--port <port>', 'port').argParser(port).default(9000))
    .option('--secret <whsec>', "the endpoint's signing secret (whsec_...)")
    .addOption(new Option('--count <n>', 'exit after n requests').argParser(limit))
    .action(
      action(async (o: { host: string; port: number; secret?: string; count?: number }) => {
        const { out } = ctx();
        return listen(
          { host: o.host, port: o.port, count: o.count ?? 0, ...(o.secret ? { secret: o.secret } : {}) },
          out,
        );
      }),
    );

  const tenant = program.command('tenant').description('manage tenants');
  tenant
    .command('create <name>')
    .description('create a tenant (lower-case letters, digits, dashes)')
    .action(
      action(async (name: string) => {
        const { out, api } = ctx();
        const res = await api().post<{ tenant: Tenant }>('/api/v1/tenants', { name });
        out.result(res, () => out.line(`Created tenant ${res.tenant.name} (${res.tenant.id})`));
        return 0;
      }),
    );
  tenant
    .command('list')
    .description('list tenants')
    .action(
      action(async () => {
        const { out, api } = ctx();
        const res = await api().get<{ tenants: Tenant[] }>('/api/v1/tenants');
        out.result(res, () =>
          out.table(res.tenants as unknown as Record<string, unknown>[], ['id', 'name', 'createdAt']),
        );
        return 0;
      }),
    );

  const source = program.command('source').description('manage webhook sources');
  source
    .command('create')
    .description('register a webhook source; prints its ingest URL')
    .requiredOption('--tenant <tenant>', 'tenant id or name')
    .addOption(new Option('--provider <provider>', 'signature scheme').default('generic'))
    .requiredOption('--secret <secret>', 'the secret the provider signs with')
    .option('--name <name>', 'a label')
    .option('--header <name>', 'generic: signature header (default x-signature)')
    .addOption(new Option('--algorithm <alg>', 'generic: HMAC hash').choices(['sha256', 'sha512']))
    .addOption(new Option('--encoding <enc>', 'generic: signature encoding').choices(['hex', 'base64']))
    .option('--prefix <prefix>', 'generic: text before the signature (default "sha256=")')
    .action(
      action(
        async (o: {
          tenant: string;
          provider: string;
          secret: string;
          name?: string;
          header?: string;
          algorithm?: string;
          encoding?: string;
          prefix?: string;
        }) => {
          const { out, api } = ctx();
          const generic = Object.fromEntries(
            Object.entries({
              header: o.header,
              algorithm: o.algorithm,
              encoding: o.encoding,
              prefix: o.prefix,
            }).filter(([, v]) => v !== undefined),
          );
          const res = await api().post<{ source: Source; ingestUrl?: string }>(
            `/api/v1/tenants/${enc(o.tenant)}/sources`,
            {
              provider: o.provider,
              secret: o.secret,
              ...(o.name ? { name: o.name } : {}),
              ...(Object.keys(generic).length ? { generic } : {}),
            },
          );
          out.result(res, () => {
            out.line(`Created ${res.source.provider} source ${res.source.id}`);
            if (res.ingestUrl) out.line(`Ingest URL: ${res.ingestUrl}`);
          });
          return 0;
        },
      ),
    );
  source
    .command('list')
    .requiredOption('--tenant <tenant>', 'tenant id or name')
    .action(
      action(async (o: { tenant: string }) => {
        const { out, api } = ctx();
        const res = await api().get<{ sources: Source[] }>(`/api/v1/tenants/${enc(o.tenant)}/sources`);
        out.result(res, () =>
          out.table(res.sources as unknown as Record<string, unknown>[], [
            'id',
            'provider',
            'name',
            'createdAt',
          ]),
        );
        return 0;
      }),
    );

  const endpoint = program.command('endpoint').description('manage delivery endpoints');
  endpoint
    .command('create')
    .description('add an endpoint; prints its signing secret once')
    .requiredOption('--tenant <tenant>', 'tenant id or name')
    .requiredOption('--url <url>', 'where deliveries are POSTed')
    .option('--event-type <type...>', 'only these event types (default: all)')
    .action(
      action(async (o: { tenant: string; url: string; eventType?: string[] }) => {
        const { out, api } = ctx();
        const res = await api().post<{ endpoint: Endpoint; signingSecret: string }>(
          `/api/v1/tenants/${enc(o.tenant)}/endpoints`,
          { url: o.url, ...(o.eventType ? { eventTypes: o.eventType } : {}) },
        );
        out.result(res, () => {
          out.line(`Created endpoint ${res.endpoint.id} -> ${res.endpoint.url}`);
          out.line(`Signing secret (shown once, store it now): ${res.signingSecret}`);
        });
        return 0;
      }),
    );
  endpoint
    .command('list')
    .requiredOption('--tenant <tenant>', 'tenant id or name')
    .action(
      action(async (o: { tenant: string }) => {
        const { out, api } = ctx();
        const res = await api().get<{ endpoints: Endpoint[] }>(`/api/v1/tenants/${enc(o.tenant)}/endpoints`);
        out.result(res, () =>
          out.table(res.endpoints as unknown as Record<string, unknown>[], [
            'id',
            'url',
            'eventTypes',
            'enabled',
          ]),
        );
        return 0;
      }),
    );

  program
    .command('events')
    .description('stored events')
    .command('list')
    .requiredOption('--tenant <tenant>', 'tenant id or name')
    .addOption(new Option('--limit <n>', 'how many, newest first').argParser(limit).default(50))
    .action(
      action(async (o: { tenant: string; limit: number }) => {
        const { out, api } = ctx();
        const res = await api().get<{ events: Event[] }>(
          `/api/v1/tenants/${enc(o.tenant)}/events?limit=${o.limit}`,
        );
        out.result(res, () =>
          out.table(res.events as unknown as Record<string, unknown>[], [
            'id',
            'type',
            'sourceId',
            'receivedAt',
          ]),
        );
        return 0;
      }),
    );

  program
    .command('deliveries')
    .description('deliveries of events to endpoints')
    .command('list')
    .requiredOption('--tenant <tenant>', 'tenant id or name')
    .option('--event <id>', 'only deliveries of this event')
    .addOption(new Option('--limit <n>', 'how many, newest first').argParser(limit).default(50))
    .action(
      action(async (o: { tenant: string; event?: string; limit: number }) => {
        const { out, api } = ctx();
        const q = new URLSearchParams({ limit: String(o.limit), ...(o.event ? { eventId: o.event } : {}) });
        const res = await api().get<{ deliveries: Delivery[] }>(
          `/api/v1/tenants/${enc(o.tenant)}/deliveries?${q}`,
        );
        out.result(res, () =>
          out.table(res.deliveries as unknown as Record<string, unknown>[], [
            'id',
            'eventId',
            'endpointId',
            'state',
            'attempts',
            'lastStatusCode',
          ]),
        );
        return 0;
      }),
    );

  return program;
}

interface Tenant {
  id: string;
  name: string;
  createdAt?: string;
}
interface Source {
  id: string;
  provider: string;
}
interface Endpoint {
  id: string;
  url: string;
}
type Event = Record<string, unknown>;
type Delivery = Record<string, unknown>;

/** Runs the CLI; errors become one line on stderr (or a JSON error with --json) and exit code 1. */
export async function main(argv: string[]): Promise<void> {
  const program = createProgram((code) => {
    process.exitCode = code;
  });
  try {
    await program.parseAsync(argv);
  } catch (err) {
    if (err instanceof CliError) {
      if (argv.includes('--json'))
        process.stderr.write(`${JSON.stringify({ error: err.code, message: err.message })}\n`);
      else process.stderr.write(`zenmesh: ${err.message}\n`);
      process.exitCode = err.code === 'ERR_USAGE' ? 2 : 1;
      return;
    }
    throw err;
  }
}
