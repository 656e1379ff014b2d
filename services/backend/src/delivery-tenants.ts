import type { Db } from '@zenmesh/db';
import { LRUCache } from 'lru-cache';

/** Which tenant owns each delivery (the cross-tenant lookup runs once per delivery the cache lacks). */
export interface DeliveryTenants {
  /** Noted at lease time: the report for it then needs no lookup. */
  remember(deliveryId: string, tenantId: string): void;
  tenantOf(db: Db, deliveryId: string): Promise<string | undefined>;
}

const lookUpTenant = async (db: Db, deliveryId: string): Promise<string | undefined> => {
  const { rows } = await db.query<{ tenant_id: string | null }>(
    'select core.delivery_tenant($1) as tenant_id',
    [deliveryId],
  );
  return rows[0]?.tenant_id ?? undefined;
};

/** A delivery never changes tenant, so what was seen at lease time stays true. */
export function createDeliveryTenants(max = 50_000): DeliveryTenants {
  const known = new LRUCache<string, string>({ max });
  return {
    remember(deliveryId, tenantId) {
      known.set(deliveryId, tenantId);
    },
    tenantOf: async (db, deliveryId) => known.get(deliveryId) ?? lookUpTenant(db, deliveryId),
  };
}

export const uncachedDeliveryTenants: DeliveryTenants = { remember() {}, tenantOf: lookUpTenant };
