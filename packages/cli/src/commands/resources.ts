import { readFileSync } from 'node:fs';
import { InvalidArgumentError, Option } from 'commander';
import { CliError } from '../errors.js';
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
    .addOption(
      new Option(
        '--provider <provider>',
        'signature scheme: generic, github, stripe, slack, shopify, gitlab, standard-webhooks, svix',
      ).default('generic'),
    )
    .requiredOption(
      '--secret <secret>',
      'the secret the provider signs with (standard-webhooks/svix: whsec_…)',
    )
    .option('--name <name>', 'a label')
    .addOption(
      new Option('--tolerance <seconds>', 'how old a signed timestamp may be (default 300)').argParser(
        tolerance,
      ),
    )
    .option('--header <name>', 'generic: signature header (default x-signature)')
    .addOption(new Option('--algorithm <alg>', 'generic: HMAC hash').choices(['sha256', 'sha512']))
    .addOption(new Option('--encoding <enc>', 'generic: signature encoding').choices(['hex', 'base64']))
    .option('--prefix <prefix>', 'generic: text before the signature (default "sha256=")')
    .option('--timestamp-header <name>', 'generic: header with the signed timestamp (signs "<ts>.<body>")')
    .option('--event-type-header <name>', 'generic: header naming the event type (default x-event-type)')
    .option('--delivery-id-header <name>', 'generic: header with the delivery id (default x-delivery-id)')
    .action(
      action(
        async (o: {
          tenant: string;
          provider: string;
          secret: string;
          name?: string;
          tolerance?: number;
          header?: string;
          algorithm?: string;
          encoding?: string;
          prefix?: string;
          timestampHeader?: string;
          eventTypeHeader?: string;
          deliveryIdHeader?: string;
        }) => {
          const { out, api } = ctx();
          const generic = Object.fromEntries(
            Object.entries({
              header: o.header,
              algorithm: o.algorithm,
              encoding: o.encoding,
              prefix: o.prefix,
              timestampHeader: o.timestampHeader,
              eventTypeHeader: o.eventTypeHeader,
              deliveryIdHeader: o.deliveryIdHeader,
            }).filter(([, v]) => v !== undefined),
          );
          if (o.provider !== 'generic' && Object.keys(generic).length > 0)
            throw new CliError(
              'ERR_USAGE',
              'the generic options (--header, --algorithm, …) need --provider generic',
            );
          const res = await api().post<{ source: Source; ingestUrl?: string }>(
            `/api/v1/tenants/${enc(o.tenant)}/sources`,
            {
              provider: o.provider,
              secret: o.secret,
              ...(o.name ? { name: o.name } : {}),
              ...(o.tolerance === undefined ? {} : { toleranceSeconds: o.tolerance }),
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
    .command('rotate-secret <sourceId>')
    .description('switch to a new secret; the old one is still accepted for a while')
    .requiredOption('--tenant <tenant>', 'tenant id or name')
    .requiredOption('--secret <secret>', 'the new secret the provider signs with')
    .addOption(
      new Option(
        '--previous-valid <seconds>',
        'how long the old secret stays accepted (default 86400)',
      ).argParser(previousValid),
    )
    .action(
      action(async (sourceId: string, o: { tenant: string; secret: string; previousValid?: number }) => {
        const { out, api } = ctx();
        const res = await api().post<{ source: Source & { previousSecretExpiresAt: string | null } }>(
          `/api/v1/tenants/${enc(o.tenant)}/sources/${enc(sourceId)}/rotate-secret`,
          {
            secret: o.secret,
            ...(o.previousValid === undefined ? {} : { previousValidSeconds: o.previousValid }),
          },
        );
        out.result(res, () => {
          out.line(`Rotated the secret of source ${res.source.id}`);
          out.line(`The previous secret is accepted until ${res.source.previousSecretExpiresAt ?? '-'}`);
        });
        return 0;
      }),
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
    .addOption(
      new Option('--max-concurrency <n>', 'deliveries in flight at once (default 20)').argParser(concurrency),
    )
    .addOption(new Option('--cloudevents <mode>', 'CloudEvents HTTP mode').choices(['binary', 'structured']))
    .option('--client-cert <file>', 'PEM client certificate presented to the endpoint (mTLS)')
    .option('--client-key <file>', 'PEM private key of --client-cert')
    .action(
      action(async (o: EndpointSettings & { tenant: string; url: string; eventType?: string[] }) => {
        const { out, api } = ctx();
        const res = await api().post<{ endpoint: Endpoint; signingSecret: string }>(
          `/api/v1/tenants/${enc(o.tenant)}/endpoints`,
          { url: o.url, ...(o.eventType ? { eventTypes: o.eventType } : {}), ...endpointSettings(o) },
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
            'disabledReason',
            'maxConcurrency',
            'cloudeventsMode',
          ]),
        );
        return 0;
      }),
    );

  endpoint
    .command('update <endpointId>')
    .description('change an endpoint; --enable resumes the deliveries kept while it was disabled')
    .requiredOption('--tenant <tenant>', 'tenant id or name')
    .option('--url <url>', 'new target URL')
    .option('--event-type <type...>', 'only these event types from now on')
    .option('--all-event-types', 'every event type from now on')
    .option('--enable', 'enable (clears the failure streak)')
    .option('--disable', 'disable (deliveries are kept, not dropped)')
    .addOption(new Option('--max-concurrency <n>', 'deliveries in flight at once').argParser(concurrency))
    .addOption(new Option('--cloudevents <mode>', 'CloudEvents HTTP mode').choices(['binary', 'structured']))
    .option('--client-cert <file>', 'PEM client certificate presented to the endpoint (mTLS)')
    .option('--client-key <file>', 'PEM private key of --client-cert')
    .option('--no-client-cert', 'stop presenting a client certificate')
    .action(
      action(
        async (
          endpointId: string,
          o: EndpointSettings & {
            tenant: string;
            url?: string;
            eventType?: string[];
            allEventTypes?: boolean;
            enable?: boolean;
            disable?: boolean;
          },
        ) => {
          if (o.enable && o.disable)
            throw new CliError('ERR_USAGE', '--enable and --disable exclude each other');
          if (o.eventType && o.allEventTypes)
            throw new CliError('ERR_USAGE', '--event-type and --all-event-types exclude each other');
          const { out, api } = ctx();
          const body = {
            ...(o.url === undefined ? {} : { url: o.url }),
            ...(o.eventType ? { eventTypes: o.eventType } : o.allEventTypes ? { eventTypes: [] } : {}),
            ...(o.enable ? { enabled: true } : o.disable ? { enabled: false } : {}),
            ...endpointSettings(o),
            ...(o.clientCert === false ? { clearClientCert: true } : {}),
          };
          const res = await api().post<{ endpoint: Endpoint }>(
            `/api/v1/tenants/${enc(o.tenant)}/endpoints/${enc(endpointId)}`,
            body,
          );
          out.result(res, () => out.line(`Updated endpoint ${res.endpoint.id} -> ${res.endpoint.url}`));
          return 0;
        },
      ),
    );
  endpoint
    .command('rotate-secret <endpointId>')
    .description('new signing secret (shown once); the old one keeps signing for a while')
    .requiredOption('--tenant <tenant>', 'tenant id or name')
    .addOption(
      new Option(
        '--previous-valid <seconds>',
        'how long the old secret keeps signing (default 86400)',
      ).argParser(previousValid),
    )
    .action(
      action(async (endpointId: string, o: { tenant: string; previousValid?: number }) => {
        const { out, api } = ctx();
        const res = await api().post<{ endpoint: Endpoint; signingSecret: string }>(
          `/api/v1/tenants/${enc(o.tenant)}/endpoints/${enc(endpointId)}/rotate-secret`,
          o.previousValid === undefined ? {} : { previousValidSeconds: o.previousValid },
        );
        out.result(res, () => {
          out.line(`New signing secret (shown once, store it now): ${res.signingSecret}`);
          out.line('The previous secret keeps signing until it expires; both signatures are sent meanwhile.');
        });
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

  const deliveries = program.command('deliveries').description('deliveries of events to endpoints');
  deliveries
    .command('attempts <deliveryId>')
    .description('every attempt of one delivery')
    .requiredOption('--tenant <tenant>', 'tenant id or name')
    .action(
      action(async (deliveryId: string, o: { tenant: string }) => {
        const { out, api } = ctx();
        const res = await api().get<{ attempts: Record<string, unknown>[] }>(
          `/api/v1/tenants/${enc(o.tenant)}/deliveries/${enc(deliveryId)}/attempts`,
        );
        out.result(res, () =>
          out.table(res.attempts, ['attempt', 'statusCode', 'error', 'durationMs', 'createdAt']),
        );
        return 0;
      }),
    );
  deliveries
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
            'replays',
            'lastStatusCode',
          ]),
        );
        return 0;
      }),
    );
};

interface EndpointSettings {
  maxConcurrency?: number;
  cloudevents?: string;
  /** A file path, or false for --no-client-cert. */
  clientCert?: string | false;
  clientKey?: string;
}

const concurrency = (value: string) => {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n < 1 || n > 1000) throw new InvalidArgumentError('expected 1-1000');
  return n;
};

const previousValid = (v: string) => {
  if (!/^\d+$/.test(v) || Number(v) < 1 || Number(v) > 604_800)
    throw new InvalidArgumentError('expected 1-604800 seconds');
  return Number(v);
};

const tolerance = (v: string) => {
  if (!/^\d+$/.test(v) || Number(v) < 1 || Number(v) > 3600)
    throw new InvalidArgumentError('expected 1-3600 seconds');
  return Number(v);
};

const readPem = (file: string, what: string): string => {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    throw new CliError('ERR_USAGE', `cannot read ${what} ${file}: ${(err as Error).message}`);
  }
};

/** The request fields for the endpoint settings given on the command line (PEM files read here). */
function endpointSettings(o: EndpointSettings): Record<string, unknown> {
  const cert = typeof o.clientCert === 'string' ? o.clientCert : undefined;
  if ((cert === undefined) !== (o.clientKey === undefined)) {
    throw new CliError('ERR_USAGE', '--client-cert and --client-key go together');
  }
  return {
    ...(o.maxConcurrency === undefined ? {} : { maxConcurrency: o.maxConcurrency }),
    ...(o.cloudevents === undefined ? {} : { cloudeventsMode: o.cloudevents }),
    ...(cert === undefined || o.clientKey === undefined
      ? {}
      : {
          clientCertPem: readPem(cert, 'client certificate'),
          clientKeyPem: readPem(o.clientKey, 'client key'),
        }),
  };
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
