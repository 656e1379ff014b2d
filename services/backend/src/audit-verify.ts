import type { Db } from '@zenmesh/db';
import {
  AUDIT_COLUMNS,
  type AuditEntryRecord,
  type AuditRow,
  auditRowHash,
  GENESIS_HASH,
  toEntry,
} from './audit.js';
import { pageSize } from './records.js';
import { queryTenantRows, resolveTenant } from './tenants.js';

/** One page of a tenant's audit chain (by id or name), in seq order after `afterSeq`. */
export const listAudit = (
  db: Db,
  tenantRef: string,
  options: { limit?: number; afterSeq?: number } = {},
): Promise<AuditEntryRecord[]> =>
  queryTenantRows(
    db,
    tenantRef,
    `select ${AUDIT_COLUMNS} from core.audit where tenant_id = $1 and seq > $2 order by seq limit $3`,
    (id) => [id, options.afterSeq ?? 0, pageSize(options.limit, 100, 1000)],
    toEntry,
  );

/**
 * `checkpoint_mismatch`: the first row left after a retention purge does not link to the checkpoint that
 * purge wrote (a checkpoint edited, or rows removed beyond it). Rows removed from the start without a
 * checkpoint are a `seq_gap` at the first row.
 */
export type AuditBreak =
  | 'hash_mismatch'
  | 'prev_hash_mismatch'
  | 'seq_gap'
  | 'head_mismatch'
  | 'checkpoint_mismatch';

export interface AuditChainStatus {
  tenantId: string;
  tenantName: string;
  rows: number;
  ok: boolean;
  /** Where the chain starts when its oldest rows were purged (retention): the last purged row's seq. */
  checkpointSeq?: number;
  broken?: { seq: number; id: string; reason: AuditBreak };
}

const VERIFY_PAGE = 1000;

/** Walks one tenant's chain in seq order, a page at a time; stops at the first broken link. */
async function verifyChain(db: Db, tenantId: string, tenantName: string): Promise<AuditChainStatus> {
  return db.withTenant(tenantId, async (tx) => {
    // After a retention purge the chain starts at its checkpoint: the seq and hash of the last purged row.
    const { rows: checkpoints } = await tx.query<{ seq: string | number; hash: string }>(
      'select seq, hash from core.audit_checkpoints where tenant_id = $1',
      [tenantId],
    );
    const checkpoint = checkpoints[0];
    const checkpointSeq = checkpoint === undefined ? 0 : Number(checkpoint.seq);
    const from = checkpoint === undefined ? {} : { checkpointSeq };
    let expectedSeq = checkpointSeq + 1;
    let prevHash = checkpoint?.hash ?? GENESIS_HASH;
    let checked = 0;
    for (;;) {
      const { rows } = await tx.query<AuditRow>(
        `select ${AUDIT_COLUMNS} from core.audit where tenant_id = $1 and seq >= $2 order by seq limit $3`,
        [tenantId, expectedSeq, VERIFY_PAGE],
      );
      for (const row of rows) {
        const entry = toEntry(row);
        const fail = (reason: AuditBreak): AuditChainStatus => ({
          tenantId,
          tenantName,
          rows: checked,
          ok: false,
          ...from,
          broken: { seq: entry.seq, id: entry.id, reason },
        });
        if (entry.seq !== expectedSeq) return fail('seq_gap');
        if (entry.prevHash !== prevHash)
          return fail(
            checked === 0 && checkpoint !== undefined ? 'checkpoint_mismatch' : 'prev_hash_mismatch',
          );
        if (auditRowHash(entry) !== entry.hash) return fail('hash_mismatch');
        checked += 1;
        expectedSeq += 1;
        prevHash = entry.hash;
      }
      if (rows.length < VERIFY_PAGE) break;
    }
    // Rows removed from the end leave an intact but shorter chain: the head remembers the last one.
    const { rows: heads } = await tx.query<{ seq: number; hash: string }>(
      'select seq, hash from core.audit_heads where tenant_id = $1',
      [tenantId],
    );
    const head = heads[0];
    if (head !== undefined && (head.seq !== expectedSeq - 1 || head.hash !== prevHash)) {
      return {
        tenantId,
        tenantName,
        rows: checked,
        ok: false,
        ...from,
        broken: { seq: head.seq, id: '', reason: 'head_mismatch' },
      };
    }
    return { tenantId, tenantName, rows: checked, ok: true, ...from };
  });
}

/** Verifies one tenant's chain (by id or name) or, without a tenant, every tenant's. */
export async function verifyAudit(db: Db, tenantRef?: string): Promise<AuditChainStatus[]> {
  const tenants =
    tenantRef === undefined || tenantRef === ''
      ? (await db.query<{ id: string; name: string }>('select id, name from core.list_tenants()')).rows
      : [await resolveTenant(db, tenantRef)];
  const out: AuditChainStatus[] = [];
  for (const t of tenants) out.push(await verifyChain(db, t.id, t.name));
  return out;
}
