import { type Command, InvalidArgumentError } from 'commander';
import { enc, type RegisterCommands } from './context.js';

interface TenantSettingsJson {
  tenantId: string;
  retentionDays: number;
  auditRetentionDays: number;
  notificationEndpointId: string | null;
}

/** A whole number of days; the bounds are the backend's (it answers `retention_days_out_of_bounds: 1-365`). */
const days = (v: string) => {
  if (!/^\d{1,6}$/.test(v)) throw new InvalidArgumentError('expected a whole number of days');
  return Number(v);
};

const lines = (s: TenantSettingsJson) => [
  `tenant ${s.tenantId}`,
  `  events and attempts kept ${s.retentionDays} day${s.retentionDays === 1 ? '' : 's'}`,
  `  audit rows kept ${s.auditRetentionDays} days`,
  `  notification endpoint ${s.notificationEndpointId ?? '(none)'}`,
];

/**
 * `zenmesh tenant settings show|set` (docs/retention.md, docs/notifications.md), over the bff's
 * /api/v1/tenants/{tenant}/settings. Registered under the `tenant` command of tenant-source-commands.ts.
 */
export const registerTenantSettingsCommands: RegisterCommands = (program, ctx, action) => {
  const tenant: Command =
    program.commands.find((c) => c.name() === 'tenant') ??
    program.command('tenant').description('manage tenants');
  const settings = tenant
    .command('settings')
    .description('retention and the notification endpoint of a tenant');
  settings
    .command('show <tenant>')
    .description("a tenant's retention (events, audit) and notification endpoint")
    .action(
      action(async (ref: string) => {
        const { out, api } = ctx();
        const res = await api().get<{ settings: TenantSettingsJson }>(`/api/v1/tenants/${enc(ref)}/settings`);
        out.result(res, () => {
          for (const l of lines(res.settings)) out.line(l);
        });
        return 0;
      }),
    );
  settings
    .command('set <tenant>')
    .description('change what is given; each change is audited')
    .option('--retention-days <days>', 'keep events, deliveries and attempts this long (1-365)', days)
    .option('--audit-retention-days <days>', 'keep audit rows this long (30-3650), behind a checkpoint', days)
    .option(
      '--notification-endpoint <id>',
      "an endpoint of the tenant for operational events; 'none' removes it",
    )
    .action(
      action(
        async (
          ref: string,
          o: { retentionDays?: number; auditRetentionDays?: number; notificationEndpoint?: string },
        ) => {
          const { out, api } = ctx();
          const body = {
            ...(o.retentionDays === undefined ? {} : { retentionDays: o.retentionDays }),
            ...(o.auditRetentionDays === undefined ? {} : { auditRetentionDays: o.auditRetentionDays }),
            ...(o.notificationEndpoint === undefined
              ? {}
              : {
                  notificationEndpointId: o.notificationEndpoint === 'none' ? null : o.notificationEndpoint,
                }),
          };
          const res = await api().post<{ settings: TenantSettingsJson }>(
            `/api/v1/tenants/${enc(ref)}/settings`,
            body,
          );
          out.result(res, () => {
            for (const l of lines(res.settings)) out.line(l);
          });
          return 0;
        },
      ),
    );
};
