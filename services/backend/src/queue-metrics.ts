import type { Db } from '@zenmesh/db';
import type { Logger, Meter } from '@zenmesh/telemetry';

interface QueueRow {
  state: string;
  deliveries: string | number;
  due: string | number;
  oldest_due_s: string | number;
}

const OPEN_STATES = ['pending', 'retrying'] as const;

/**
 * The delivery queue as gauges, read from `core.delivery_queue_stats()` once per scrape (one aggregate
 * query over the partial index of open deliveries):
 * - `zenmesh_delivery_queue_depth{state}`: deliveries not yet finished (pending, retrying);
 * - `zenmesh_delivery_queue_due{state}`: of those, due now and not leased (waiting for egress);
 * - `zenmesh_delivery_queue_oldest_due_seconds`: how long the oldest due delivery has waited (0 when none):
 *   a backlog or a stopped egress shows here first.
 * A failed query records nothing for that scrape (an absent series, not a false zero).
 */
export function observeDeliveryQueue(meter: Meter, db: Db, logger: Logger): void {
  const depth = meter.createObservableGauge('zenmesh_delivery_queue_depth', {
    description: 'Deliveries not yet finished, by state',
  });
  const due = meter.createObservableGauge('zenmesh_delivery_queue_due', {
    description: 'Deliveries due now and not leased, by state',
  });
  const oldest = meter.createObservableGauge('zenmesh_delivery_queue_oldest_due_seconds', {
    description: 'Seconds the oldest due, unleased delivery has waited',
    unit: 's',
  });
  meter.addBatchObservableCallback(
    async (result) => {
      let rows: QueueRow[];
      try {
        rows = (await db.query<QueueRow>('select * from core.delivery_queue_stats()')).rows;
      } catch (err) {
        logger.warn({ err }, 'delivery queue stats failed');
        return;
      }
      let oldestS = 0;
      for (const state of OPEN_STATES) {
        const row = rows.find((r) => r.state === state);
        result.observe(depth, Number(row?.deliveries ?? 0), { state });
        result.observe(due, Number(row?.due ?? 0), { state });
        oldestS = Math.max(oldestS, Number(row?.oldest_due_s ?? 0));
      }
      result.observe(oldest, oldestS);
    },
    [depth, due, oldest],
  );
}
