import { InvalidArgumentError } from 'commander';
import { enc, type RegisterCommands } from './context.js';

const UNITS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** `--since`: an ISO 8601 instant, or a duration back from now such as `90m`, `6h`, `3d`. */
export function parseSince(value: string, now: () => number = Date.now): string {
  const rel = /^(\d+)([smhd])$/.exec(value);
  if (rel) return new Date(now() - Number(rel[1]) * (UNITS[rel[2] as string] as number)).toISOString();
  if (/^\d{4}-\d{2}-\d{2}/.test(value)) {
    const t = Date.parse(value);
    if (!Number.isNaN(t)) return new Date(t).toISOString();
  }
  throw new InvalidArgumentError(
    'expected an ISO 8601 time (2026-01-02T03:04:05Z) or a duration like 6h or 3d',
  );
}

interface ReplayJson {
  deliveryIds: string[];
  skippedInFlight: string[];
}

/** `zenmesh replay delivery|endpoint|event`, over the bff's /api/v1. */
export const registerReplayCommands: RegisterCommands = (program, ctx, action) => {
  const replay = program
    .command('replay')
    .description(
      'deliver again: one delivery, the dead letters of an endpoint, or an event to all endpoints',
    );
  replay
    .command('delivery <deliveryId>')
    .description('deliver one delivery again now, with a fresh retry schedule')
    .requiredOption('--tenant <tenant>', 'tenant id or name')
    .action(
      action(async (deliveryId: string, o: { tenant: string }) => {
        const { out, api } = ctx();
        const res = await api().post<{ delivery: { id: string; state: string } }>(
          `/api/v1/tenants/${enc(o.tenant)}/deliveries/${enc(deliveryId)}/replay`,
          {},
        );
        out.result(res, () => out.line(`Replaying delivery ${res.delivery.id} (now ${res.delivery.state})`));
        return 0;
      }),
    );
  replay
    .command('endpoint <endpointId>')
    .description('replay every dead delivery of an endpoint whose event arrived since a time')
    .requiredOption('--tenant <tenant>', 'tenant id or name')
    .requiredOption('--since <time>', 'ISO 8601 time, or a duration back from now (6h, 3d)', (v) =>
      parseSince(v),
    )
    .action(
      action(async (endpointId: string, o: { tenant: string; since: string }) => {
        const { out, api } = ctx();
        const res = await api().post<ReplayJson>(
          `/api/v1/tenants/${enc(o.tenant)}/endpoints/${enc(endpointId)}/replay`,
          { since: o.since },
        );
        out.result(res, () =>
          out.line(
            `Replaying ${res.deliveryIds.length} dead deliver${res.deliveryIds.length === 1 ? 'y' : 'ies'} of ${endpointId} since ${o.since}`,
          ),
        );
        return 0;
      }),
    );
  replay
    .command('event <eventId>')
    .description('deliver an event again to every enabled endpoint it matches now')
    .requiredOption('--tenant <tenant>', 'tenant id or name')
    .action(
      action(async (eventId: string, o: { tenant: string }) => {
        const { out, api } = ctx();
        const res = await api().post<ReplayJson>(
          `/api/v1/tenants/${enc(o.tenant)}/events/${enc(eventId)}/replay`,
          {},
        );
        out.result(res, () => {
          out.line(`Replaying event ${eventId} to ${res.deliveryIds.length} endpoint(s)`);
          if (res.skippedInFlight.length > 0)
            out.line(`Left alone (being delivered right now): ${res.skippedInFlight.join(', ')}`);
        });
        return 0;
      }),
    );
};
