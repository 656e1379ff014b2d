import { InvalidArgumentError, Option } from 'commander';
import { registerConnectionCommands } from './connection-commands.js';
import { enc, limit, type RegisterCommands } from './context.js';
import { registerEndpointCommands } from './endpoint-commands.js';
import { printEvent, type ShownEvent } from './event-show.js';
import { parseSince } from './replay.js';
import { registerTenantSettingsCommands } from './tenant-settings-commands.js';
import { registerTenantSourceCommands } from './tenant-source-commands.js';

/** Tenants, sources, endpoints, events and deliveries, over the bff's /api/v1. */
export const registerResourceCommands: RegisterCommands = (program, ctx, action) => {
  registerTenantSourceCommands(program, ctx, action);
  registerTenantSettingsCommands(program, ctx, action);
  registerEndpointCommands(program, ctx, action);
  registerConnectionCommands(program, ctx, action);
  const events = program.command('events').description('stored events');
  events
    .command('show <eventId>')
    .description('one event and its trace id (with JAEGER_UI_URL set, the Jaeger link)')
    .requiredOption('--tenant <tenant>', 'tenant id or name')
    .action(
      action(async (eventId: string, o: { tenant: string }) => {
        const { out, api } = ctx();
        const res = await api().get<{ event: ShownEvent }>(
          `/api/v1/tenants/${enc(o.tenant)}/events/${enc(eventId)}`,
        );
        printEvent(out, res.event, process.env.JAEGER_UI_URL);
        return 0;
      }),
    );
  events
    .command('list')
    .description('newest first; --cursor NEXT continues where the previous page ended')
    .requiredOption('--tenant <tenant>', 'tenant id or name')
    .option('--source <id>', 'only events of this source')
    .option('--type <type>', 'only this type, or a prefix: order.*')
    .option('--since <time>', 'received at or after (ISO 8601, or a duration back from now: 90m, 6h, 3d)')
    .option('--until <time>', 'received before (same forms)')
    .option('--cursor <cursor>', 'the next cursor printed by the previous page')
    .addOption(new Option('--limit <n>', 'how many, newest first').argParser(limit).default(50))
    .action(
      action(async (o: SearchOptions & { source?: string; type?: string }) => {
        const { out, api } = ctx();
        const q = searchParams(o, { sourceId: o.source, type: o.type });
        const res = await api().get<{ events: Event[]; nextCursor: string | null }>(
          `/api/v1/tenants/${enc(o.tenant)}/events?${q}`,
        );
        out.result(res, () => {
          out.table(res.events as unknown as Record<string, unknown>[], [
            'id',
            'type',
            'sourceId',
            'receivedAt',
          ]);
          if (res.nextCursor) out.line(`more: --cursor ${res.nextCursor}`);
        });
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
    .description('newest first; --state dead lists the dead letters; --cursor NEXT continues')
    .requiredOption('--tenant <tenant>', 'tenant id or name')
    .option('--event <id>', 'only deliveries of this event')
    .addOption(
      new Option('--state <state>', 'only this state').choices(['pending', 'retrying', 'succeeded', 'dead']),
    )
    .option('--endpoint <id>', 'only deliveries to this endpoint')
    .option('--source <id>', "only deliveries of this source's events")
    .option('--type <type>', 'only events of this type, or a prefix: order.*')
    .addOption(
      new Option('--status <code>', "the last attempt's HTTP status (0: no response)").argParser(status),
    )
    .option('--since <time>', 'created at or after (ISO 8601, or a duration back from now: 90m, 6h, 3d)')
    .option('--until <time>', 'created before (same forms)')
    .option('--cursor <cursor>', 'the next cursor printed by the previous page')
    .addOption(new Option('--limit <n>', 'how many, newest first').argParser(limit).default(50))
    .action(
      action(
        async (
          o: SearchOptions & {
            event?: string;
            state?: string;
            endpoint?: string;
            source?: string;
            type?: string;
            status?: number;
          },
        ) => {
          const { out, api } = ctx();
          const q = searchParams(o, {
            eventId: o.event,
            state: o.state,
            endpointId: o.endpoint,
            sourceId: o.source,
            eventType: o.type,
            statusCode: o.status === undefined ? undefined : String(o.status),
          });
          const res = await api().get<{ deliveries: Delivery[]; nextCursor: string | null }>(
            `/api/v1/tenants/${enc(o.tenant)}/deliveries?${q}`,
          );
          out.result(res, () => {
            out.table(res.deliveries as unknown as Record<string, unknown>[], [
              'id',
              'eventId',
              'endpointId',
              'state',
              'attempts',
              'replays',
              'lastStatusCode',
              'lastError',
            ]);
            if (res.nextCursor) out.line(`more: --cursor ${res.nextCursor}`);
          });
          return 0;
        },
      ),
    );
};

interface SearchOptions {
  tenant: string;
  limit: number;
  since?: string;
  until?: string;
  cursor?: string;
}

/** The query string of a search: the filters given, times as ISO 8601 (parseSince accepts 6h, 3d…). */
function searchParams(o: SearchOptions, filters: Record<string, string | undefined>): URLSearchParams {
  const q = new URLSearchParams({ limit: String(o.limit) });
  for (const [k, v] of Object.entries(filters)) if (v !== undefined && v !== '') q.set(k, v);
  if (o.since !== undefined) q.set('since', parseSince(o.since));
  if (o.until !== undefined) q.set('until', parseSince(o.until));
  if (o.cursor !== undefined) q.set('cursor', o.cursor);
  return q;
}

const status = (value: string): number => {
  if (!/^\d{1,3}$/.test(value)) throw new InvalidArgumentError('expected an HTTP status code, 0-999');
  return Number(value);
};

type Event = Record<string, unknown>;
type Delivery = Record<string, unknown>;
