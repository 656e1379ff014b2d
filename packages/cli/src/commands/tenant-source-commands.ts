import { InvalidArgumentError, Option } from 'commander';
import { CliError } from '../errors.js';
import { enc, type RegisterCommands } from './context.js';
import { previousValid } from './option-values.js';

/** `zenmesh tenant …` and `zenmesh source …`, over the bff's /api/v1. */
export const registerTenantSourceCommands: RegisterCommands = (program, ctx, action) => {
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
      new Option(
        '--tolerance <seconds>',
        'how old a signed timestamp may be, 1-3600 (default 300)',
      ).argParser(tolerance),
    )
    .option('--header <name>', 'generic: signature header (default x-signature)')
    .addOption(new Option('--algorithm <alg>', 'generic: HMAC hash').choices(['sha256', 'sha512']))
    .addOption(new Option('--encoding <enc>', 'generic: signature encoding').choices(['hex', 'base64']))
    .option('--prefix <prefix>', 'generic: text before the signature (default "sha256=")')
    .option(
      '--timestamp-header <name>',
      'generic: header with the signed Unix-seconds timestamp; the HMAC covers "<ts>.<body>" (default x-timestamp)',
    )
    .option(
      '--no-timestamp',
      'generic: the sender signs the body alone (weaker: a captured webhook replays for 24 h as a duplicate only)',
    )
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
          /** false with --no-timestamp. */
          timestamp: boolean;
          eventTypeHeader?: string;
          deliveryIdHeader?: string;
        }) => {
          const { out, api } = ctx();
          if (!o.timestamp && o.timestampHeader !== undefined)
            throw new CliError('ERR_USAGE', '--no-timestamp and --timestamp-header contradict each other');
          const generic = Object.fromEntries(
            Object.entries({
              header: o.header,
              algorithm: o.algorithm,
              encoding: o.encoding,
              prefix: o.prefix,
              timestampHeader: o.timestamp ? o.timestampHeader : '',
              eventTypeHeader: o.eventTypeHeader,
              deliveryIdHeader: o.deliveryIdHeader,
            }).filter(([, v]) => v !== undefined),
          );
          if (o.provider !== 'generic' && Object.keys(generic).length > 0)
            throw new CliError(
              'ERR_USAGE',
              'the generic options (--header, --algorithm, …) need --provider generic',
            );
          if (!o.timestamp && o.provider === 'generic') {
            out.warn(
              'this source signs no timestamp (--no-timestamp): a captured webhook can be resent at any time; ' +
                'within 24 h it is answered as a duplicate, after that it becomes a new event. ' +
                'Prefer a signed timestamp (the default, header x-timestamp).',
            );
          }
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
            const g = res.source.generic;
            if (g !== undefined && g !== null) {
              out.line(
                g.timestampHeader
                  ? `Signature: ${g.header}: ${g.prefix}<${g.encoding} HMAC-${g.algorithm} of "<unix seconds>.<body>">, timestamp in ${g.timestampHeader}`
                  : `Signature: ${g.header}: ${g.prefix}<${g.encoding} HMAC-${g.algorithm} of the body> (no timestamp)`,
              );
            }
          });
          return 0;
        },
      ),
    );
  source
    .command('update <sourceId>')
    .description("change a source's settings: the signed-timestamp tolerance, the routing mode")
    .requiredOption('--tenant <tenant>', 'tenant id or name')
    .addOption(
      new Option(
        '--tolerance <seconds>',
        'how old a signed timestamp may be, 1-3600; 0 = the default (300)',
      ).argParser(toleranceOrDefault),
    )
    .addOption(
      new Option(
        '--routing <mode>',
        'all: every enabled endpoint whose event types match; connections: only connected endpoints',
      ).choices(['all', 'connections']),
    )
    .action(
      action(async (sourceId: string, o: { tenant: string; tolerance?: number; routing?: string }) => {
        if (o.tolerance === undefined && o.routing === undefined)
          throw new CliError('ERR_USAGE', 'nothing to change: give --tolerance or --routing');
        const { out, api } = ctx();
        const res = await api().post<{ source: Source & { toleranceSeconds: number; routing: string } }>(
          `/api/v1/tenants/${enc(o.tenant)}/sources/${enc(sourceId)}`,
          {
            ...(o.tolerance === undefined ? {} : { toleranceSeconds: o.tolerance }),
            ...(o.routing === undefined ? {} : { routing: o.routing }),
          },
        );
        out.result(res, () =>
          out.line(
            `Source ${res.source.id} accepts signed timestamps within ${res.source.toleranceSeconds || 300} s and routes to ${res.source.routing === 'all' ? 'every matching endpoint' : 'its connections'}`,
          ),
        );
        return 0;
      }),
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
};

const tolerance = (v: string) => {
  if (!/^\d+$/.test(v) || Number(v) < 1 || Number(v) > 3600)
    throw new InvalidArgumentError(
      'expected 1-3600 seconds (a larger window lets a captured webhook be replayed)',
    );
  return Number(v);
};

const toleranceOrDefault = (v: string) => (v === '0' ? 0 : tolerance(v));

interface Tenant {
  id: string;
  name: string;
  createdAt?: string;
}
interface Source {
  id: string;
  provider: string;
  /** Generic sources only (the bff's JSON). */
  generic?: {
    header: string;
    algorithm: string;
    encoding: string;
    prefix: string;
    timestampHeader: string;
  } | null;
}
