import type { Db } from '@zenmesh/db';

export const DELIVERY_COLUMNS =
  'id, tenant_id, event_id, endpoint_id, state, attempts, next_attempt_at, last_status_code, last_error, updated_at, lease_token, lease_owner, lease_expires_at, attempts_at_replay, replays, dead_at, connection_id';

export interface AttemptRecord {
  id: string;
  deliveryId: string;
  attempt: number;
  statusCode: number;
  error: string;
  durationMs: number;
  createdAt: Date;
}

export async function listAttempts(db: Db, tenantId: string, deliveryId: string): Promise<AttemptRecord[]> {
  return db.withTenant(tenantId, async (tx) => {
    const { rows } = await tx.query<{
      id: string;
      delivery_id: string;
      attempt: number;
      status_code: number;
      error: string;
      duration_ms: number;
      created_at: Date;
    }>(
      `select id, delivery_id, attempt, status_code, error, duration_ms, created_at
         from core.attempts where tenant_id = $1 and delivery_id = $2 order by attempt`,
      [tenantId, deliveryId],
    );
    return rows.map((r) => ({
      id: r.id,
      deliveryId: r.delivery_id,
      attempt: r.attempt,
      statusCode: r.status_code,
      error: r.error,
      durationMs: r.duration_ms,
      createdAt: r.created_at,
    }));
  });
}
