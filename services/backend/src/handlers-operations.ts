import type { Db } from '@zenmesh/db';
import type {
  GetTenantSettingsRequest,
  ReportSignatureFailuresRequest,
  UpdateTenantSettingsRequest,
} from '@zenmesh/proto';
import type { CallContext } from '@zenmesh/rpc';
import { createSourceTenants } from './event-batch.js';
import { edge, RPC_SCOPES as S } from './handler-kit.js';
import { recordSignatureFailures, type SignatureSpikePolicy } from './signature-failures.js';
import { getTenantSettings, type TenantSettingsRecord, updateTenantSettings } from './tenant-settings.js';
import { auditActor as actorOf, type UserGuard } from './user-auth.js';

const settingsToProto = (s: TenantSettingsRecord) => ({
  tenantId: s.tenantId,
  retentionDays: s.retentionDays,
  auditRetentionDays: s.auditRetentionDays,
  notificationEndpointId: s.notificationEndpointId ?? '',
});

/** TenantService's retention and notification settings (spread into its implementation in handlers.ts). */
export function tenantSettingsHandlers(db: Db, guard: UserGuard) {
  return {
    getTenantSettings: (req: GetTenantSettingsRequest, ctx: CallContext) =>
      edge(async () => {
        const { tenantId } = await guard.tenant(ctx, S.tenantSettings, req.tenant);
        return { settings: settingsToProto(await getTenantSettings(db, tenantId)) };
      }),
    updateTenantSettings: (req: UpdateTenantSettingsRequest, ctx: CallContext) =>
      edge(async () => {
        const { tenantId, user } = await guard.tenant(ctx, S.tenantSettings, req.tenant);
        const settings = await updateTenantSettings(db, {
          tenant: tenantId,
          retentionDays: req.retentionDays,
          auditRetentionDays: req.auditRetentionDays,
          notificationEndpointId: req.notificationEndpointId,
          audit: actorOf(user, req.audit, ctx),
        });
        return { settings: settingsToProto(settings) };
      }),
  };
}

/** SourceService.ReportSignatureFailures: ingester only (workload policy), batched counts, no user behind it. */
export function signatureFailureHandler(db: Db, policy: SignatureSpikePolicy | undefined) {
  const sources = createSourceTenants(db);
  return {
    reportSignatureFailures: (req: ReportSignatureFailuresRequest) =>
      edge(async () => ({
        spikes: await recordSignatureFailures(
          db,
          sources,
          req.counts.map((c) => ({ sourceId: c.sourceId, failures: c.failures })),
          policy,
        ),
      })),
  };
}
