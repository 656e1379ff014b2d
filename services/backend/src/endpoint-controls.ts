import type { Tx } from '@zenmesh/db';
import { invalid } from './errors.js';

/** An endpoint's outbound throttle: a token bucket of `burst`, refilled at `perSecond` (egress enforces it). */
export interface RateLimit {
  perSecond: number;
  burst: number;
}

export const MIN_RATE_PER_SECOND = 0.01;
export const MAX_RATE_PER_SECOND = 10_000;
export const MAX_RATE_BURST = 10_000;

/**
 * The throttle to store: null for none (rate 0 or absent), else a bounded rate (0.01 to 10000 per second)
 * and burst (1 to 10000; 0 or absent = ceil(rate)). Refuses with `invalid_rate_limit: <why>`.
 */
export function validateRateLimit(
  perSecond: number | undefined,
  burst: number | undefined,
): RateLimit | null {
  if (perSecond === undefined || perSecond === 0) {
    if (burst !== undefined && burst !== 0) throw invalid('invalid_rate_limit: a burst needs a rate');
    return null;
  }
  if (!Number.isFinite(perSecond) || perSecond < MIN_RATE_PER_SECOND || perSecond > MAX_RATE_PER_SECOND) {
    throw invalid(
      `invalid_rate_limit: perSecond must be between ${MIN_RATE_PER_SECOND} and ${MAX_RATE_PER_SECOND}`,
    );
  }
  const b = burst === undefined || burst === 0 ? Math.ceil(perSecond) : burst;
  if (!Number.isInteger(b) || b < 1 || b > MAX_RATE_BURST) {
    throw invalid(`invalid_rate_limit: burst must be a whole number between 1 and ${MAX_RATE_BURST}`);
  }
  return { perSecond, burst: b };
}

/**
 * When ordering is switched on, the endpoint's waiting deliveries made before have no key: they become one
 * queue of their own (key '', numbered in the order they were made), so they are leased as heads too.
 */
export async function adoptUnkeyed(tx: Tx, tenantId: string, endpointId: string): Promise<void> {
  await tx.query(
    `with w as materialized (
       select id, nextval('core.delivery_order_seq') as seq
         from (select id from core.deliveries
                where tenant_id = $1 and endpoint_id = $2 and ordering_key is null
                  and state in ('pending', 'retrying')
                order by created_at, id) o
     )
     update core.deliveries d set ordering_key = '', ordering_seq = w.seq from w where d.id = w.id`,
    [tenantId, endpointId],
  );
}
