import type { TenantSettings } from '@zenmesh/proto';
import { z } from 'zod';
import { UpstreamAnswerError } from './api-errors.js';
import type { BackendClients, TenantSettingsClient } from './backend-clients.js';
import { jsonBody, parse, type Route, tenantRoute } from './route-kit.js';

export const tenantSettingsSchema = z.strictObject({
  tenantId: z.string(),
  retentionDays: z.int(),
  auditRetentionDays: z.int(),
  notificationEndpointId: z.string().nullable(),
});

const settingsAnswer = z.strictObject({ settings: tenantSettingsSchema });

// The bounds are the backend's (tenant-settings.ts, migration 0009): refused there with a stable reason, so a
// client sees the same answer whichever way it comes in. Here only the shape.
const updateSettingsBody = z
  .strictObject({
    retentionDays: z.int().optional(),
    auditRetentionDays: z.int().optional(),
    notificationEndpointId: z.string().max(64).nullable().optional(),
  })
  .refine((b) => Object.keys(b).length > 0, { message: 'nothing to change' });

const settingsJson = (s: TenantSettings) => ({
  tenantId: s.tenantId,
  retentionDays: s.retentionDays,
  auditRetentionDays: s.auditRetentionDays,
  notificationEndpointId: s.notificationEndpointId === '' ? null : s.notificationEndpointId,
});

const nonNegative = (v: number | undefined) =>
  v === undefined ? undefined : Math.max(0, Math.min(v, 2 ** 31));

/** GET/POST /api/v1/tenants/{tenant}/settings (scope admin): docs/retention.md, docs/notifications.md. */
export function createSettingsRoutes(
  backend: BackendClients,
  settings: TenantSettingsClient | undefined,
): Route[] {
  if (settings === undefined) return [];
  const answer = (res: { settings?: TenantSettings | undefined }, rpc: string) => {
    if (res.settings === undefined) throw new UpstreamAnswerError(rpc, 'settings');
    return { status: 200, body: { settings: settingsJson(res.settings) } };
  };
  return [
    tenantRoute(
      backend,
      'GET',
      'settings',
      ['admin'],
      async ({ call }, tenant) =>
        answer(await settings.getTenantSettings({ tenant }, call), 'GetTenantSettings'),
      { summary: 'Retention and notification endpoint of a tenant', response: settingsAnswer },
    ),
    tenantRoute(
      backend,
      'POST',
      'settings',
      ['admin'],
      async ({ req, call, audit }, tenant) => {
        const b = parse(updateSettingsBody, await jsonBody(req));
        const retentionDays = nonNegative(b.retentionDays);
        const auditRetentionDays = nonNegative(b.auditRetentionDays);
        const res = await settings.updateTenantSettings(
          {
            tenant,
            ...(retentionDays === undefined ? {} : { retentionDays }),
            ...(auditRetentionDays === undefined ? {} : { auditRetentionDays }),
            ...(b.notificationEndpointId === undefined
              ? {}
              : { notificationEndpointId: b.notificationEndpointId ?? '' }),
            audit,
          },
          call,
        );
        return answer(res, 'UpdateTenantSettings');
      },
      {
        summary: 'Change retention (days) or the notification endpoint (null removes it)',
        body: updateSettingsBody,
        response: settingsAnswer,
      },
    ),
  ];
}
