import { Option } from 'commander';
import { enc, limit, type RegisterCommands } from './context.js';

/** Tenants, sources, endpoints, events and deliveries, over the bff's /api/v1. */
export const registerResourceCommands: RegisterCommands = (program, ctx, action) => {
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
};

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
