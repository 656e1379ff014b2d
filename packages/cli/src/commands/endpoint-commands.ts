import { readFileSync } from 'node:fs';
import { InvalidArgumentError, Option } from 'commander';
import { CliError } from '../errors.js';
import { enc, type RegisterCommands } from './context.js';
import { previousValid } from './option-values.js';

/** `zenmesh endpoint …`, over the bff's /api/v1. */
export const registerEndpointCommands: RegisterCommands = (program, ctx, action) => {
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
    .addOption(new Option('--rate <perSecond>', 'throttle: requests per second (0.01-10000)').argParser(rate))
    .addOption(new Option('--burst <n>', 'throttle: requests at once (default: the rate)').argParser(burst))
    .option('--ordering-key <key>', 'FIFO per key: "$.customer.id" (JSON body) or "header:x-customer"')
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
            'rateLimit',
            'ordering',
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
    .addOption(new Option('--rate <perSecond>', 'throttle: requests per second (0.01-10000)').argParser(rate))
    .addOption(new Option('--burst <n>', 'throttle: requests at once (default: the rate)').argParser(burst))
    .option('--no-rate', 'remove the throttle')
    .option('--ordering-key <key>', 'FIFO per key: "$.customer.id" (JSON body) or "header:x-customer"')
    .option('--no-ordering', 'stop ordering (deliveries flow in parallel again)')
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
};

interface EndpointSettings {
  maxConcurrency?: number;
  /** Requests per second, or false for --no-rate. */
  rate?: number | false;
  burst?: number;
  orderingKey?: string;
  /** False for --no-ordering. */
  ordering?: boolean;
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

const rate = (value: string) => {
  const n = Number(value);
  if (!/^\d+(\.\d+)?$/.test(value) || !(n > 0))
    throw new InvalidArgumentError('expected requests per second, e.g. 5 or 0.5');
  return n;
};

const burst = (value: string) => {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n < 1)
    throw new InvalidArgumentError('expected a whole number of requests, 1 or more');
  return n;
};

/** `rateLimit` and `ordering` of the request: set, removed (null) or left out. */
function deliveryControls(o: EndpointSettings): Record<string, unknown> {
  if (o.burst !== undefined && typeof o.rate !== 'number') {
    throw new CliError('ERR_USAGE', '--burst needs --rate');
  }
  if (o.orderingKey !== undefined && o.ordering === false) {
    throw new CliError('ERR_USAGE', '--ordering-key and --no-ordering exclude each other');
  }
  return {
    ...(typeof o.rate === 'number'
      ? { rateLimit: { perSecond: o.rate, ...(o.burst === undefined ? {} : { burst: o.burst }) } }
      : o.rate === false
        ? { rateLimit: null }
        : {}),
    ...(o.orderingKey !== undefined
      ? { ordering: { key: o.orderingKey } }
      : o.ordering === false
        ? { ordering: null }
        : {}),
  };
}

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
    ...deliveryControls(o),
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

interface Endpoint {
  id: string;
  url: string;
}
