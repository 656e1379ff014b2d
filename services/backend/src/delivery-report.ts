import type { Db } from '@zenmesh/db';
import { type DeliveryTenants, uncachedDeliveryTenants } from './delivery-tenants.js';
import { BackendError, notFound } from './errors.js';
import { applyReportsAndReleases } from './lease-release.js';
import type { DeliveryRecord } from './records.js';
import type { ReportAttemptInput, ReportOptions } from './report-apply.js';

export type { ReportAttemptInput, ReportOptions } from './report-apply.js';

/** A statement failed, so the server rolled the transaction back: applying its reports again is safe. */
const rolledBack = (err: unknown): boolean => typeof (err as { sqlState?: unknown }).sqlState === 'string';

/**
 * Records a batch of attempts (applyReports: compare-and-set on each lease, endpoint health, audit), one
 * transaction per tenant, answering in order with the delivery or the Error that report alone got (a
 * refused report writes nothing, so the others in its transaction still commit). When a statement fails,
 * that tenant's reports are applied again one by one.
 */
export async function reportAttempts(
  db: Db,
  inputs: ReportAttemptInput[],
  options: ReportOptions & { tenants?: DeliveryTenants } = {},
): Promise<Array<DeliveryRecord | Error>> {
  const tenants = options.tenants ?? uncachedDeliveryTenants;
  const out: Array<DeliveryRecord | Error> = new Array(inputs.length);
  const byTenant = new Map<string, number[]>();
  await Promise.all(
    inputs.map(async (input, i) => {
      try {
        if (input.deliveryId.length === 0 || input.deliveryId.length > 64)
          throw notFound('delivery_not_found');
        const tenantId = await tenants.tenantOf(db, input.deliveryId);
        if (tenantId === undefined) throw notFound('delivery_not_found');
        byTenant.set(tenantId, [...(byTenant.get(tenantId) ?? []), i]);
      } catch (err) {
        out[i] = err as Error;
      }
    }),
  );
  const write = async (tenantId: string, indexes: number[]): Promise<void> => {
    try {
      const answers = await db.withTenant(tenantId, (tx) =>
        applyReportsAndReleases(
          tx,
          tenantId,
          indexes.map((i) => inputs[i] as ReportAttemptInput),
          options,
        ),
      );
      for (const [k, i] of indexes.entries()) out[i] = answers[k] as DeliveryRecord | Error;
    } catch (err) {
      if (indexes.length > 1 && rolledBack(err)) {
        for (const i of indexes) await write(tenantId, [i]);
        return;
      }
      for (const i of indexes) out[i] = err as Error;
    }
  };
  await Promise.all([...byTenant].map(([tenantId, indexes]) => write(tenantId, indexes)));
  return out;
}

/** One attempt (see reportAttempts); throws what it failed with. */
export async function reportAttempt(
  db: Db,
  input: ReportAttemptInput,
  options: ReportOptions & { tenants?: DeliveryTenants } = {},
): Promise<DeliveryRecord> {
  const [answer] = await reportAttempts(db, [input], options);
  if (answer === undefined) throw new BackendError('ERR_INTERNAL', 'reportAttempts answered nothing');
  if (answer instanceof Error) throw answer;
  return answer;
}
