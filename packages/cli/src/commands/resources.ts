import { Option } from 'commander';
import { registerConnectionCommands } from './connection-commands.js';
import { enc, limit, type RegisterCommands } from './context.js';
import { registerEndpointCommands } from './endpoint-commands.js';
import { registerTenantSourceCommands } from './tenant-source-commands.js';

/** Tenants, sources, endpoints, events and deliveries, over the bff's /api/v1. */
export const registerResourceCommands: RegisterCommands = (program, ctx, action) => {
  registerTenantSourceCommands(program, ctx, action);
  registerEndpointCommands(program, ctx, action);
  registerConnectionCommands(program, ctx, action);
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

type Event = Record<string, unknown>;
type Delivery = Record<string, unknown>;
