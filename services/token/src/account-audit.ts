import { createHash } from 'node:crypto';
import type { Db, Queryable } from '@zenmesh/db';

/** Who did it, as the token service itself established (never taken from the edge's word alone). */
export interface AccountActor {
  /** `user:usr_…`, `api_key:key_…`, `client:…`, or `link:usr_…` for the holder of an enrollment link. */
  actor: string;
  /** SPIFFE ID of the calling workload, or `http` for the token service's own pages. */
  via: string;
  ip?: string | undefined;
  userAgent?: string | undefined;
}

export interface AccountChange {
  /** `totp.enroll`, `totp.reset_link_issued`, `totp.confirmed`, `totp.reset_refused`, `user.create`… */
  action: string;
  /** `user/usr_…`. */
  target: string;
  /** JSON, never a secret. */
  detail?: Record<string, unknown>;
}

export interface AccountAuditEntry extends Required<Omit<AccountActor, 'ip' | 'userAgent'>> {
  seq: number;
  at: Date;
  action: string;
  target: string;
  detail: Record<string, unknown>;
  ip: string;
  userAgent: string;
  prevHash: string;
  hash: string;
}

export type AccountAuditStatus =
  | { ok: true; rows: number }
  | {
      ok: false;
      rows: number;
      broken: { seq: number; reason: 'hash_mismatch' | 'prev_hash_mismatch' | 'seq_gap' | 'head_mismatch' };
    };

export interface AccountAudit {
  /** Appends one row inside `tx` (or its own transaction): it commits or rolls back with the action. */
  append(who: AccountActor, change: AccountChange, tx?: Queryable): Promise<AccountAuditEntry>;
  list(options?: { target?: string; limit?: number }): Promise<AccountAuditEntry[]>;
  /** Walks the chain from the first row; names the first broken link. */
  verify(): Promise<AccountAuditStatus>;
}

const GENESIS = '0'.repeat(64);
const clean = (v: string | undefined, max: number) =>
  [...(v ?? '')]
    .filter((c) => c.charCodeAt(0) >= 0x20 && c.charCodeAt(0) !== 0x7f)
    .join('')
    .slice(0, max);

/** Stable JSON: keys sorted at every depth, so jsonb's own key order never changes a hash. */
function stable(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(stable).join(',')}]`;
  if (v !== null && typeof v === 'object')
    return `{${Object.keys(v)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${stable((v as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  return JSON.stringify(v ?? null);
}

export const accountAuditHash = (e: Omit<AccountAuditEntry, 'hash'>) =>
  createHash('sha256')
    .update(stable({ v: 1, ...e, at: e.at.toISOString() }), 'utf8')
    .digest('hex');

interface Row {
  seq: string;
  at: Date;
  actor: string;
  via: string;
  action: string;
  target: string;
  detail: Record<string, unknown>;
  ip: string;
  user_agent: string;
  prev_hash: string;
  hash: string;
}

const toEntry = (r: Row): AccountAuditEntry => ({
  seq: Number(r.seq),
  at: r.at,
  actor: r.actor,
  via: r.via,
  action: r.action,
  target: r.target,
  detail: r.detail,
  ip: r.ip,
  userAgent: r.user_agent,
  prevHash: r.prev_hash,
  hash: r.hash,
});

/**
 * The token service's audit of account actions: one SHA-256 hash chain (each row holds the previous row's
 * hash; token.account_audit_head remembers the last, so a truncated tail shows) in a table whose UPDATE,
 * DELETE and TRUNCATE a trigger refuses. The chain makes tampering by a database writer who bypasses the
 * trigger (its owner) detectable; it cannot stop them — see the threat model's non-claims.
 */
export function createAccountAudit(options: { db: Db; now: () => Date }): AccountAudit {
  const { db, now } = options;

  const append = async (
    q: Queryable,
    who: AccountActor,
    change: AccountChange,
  ): Promise<AccountAuditEntry> => {
    const head = (
      await q.query<{ seq: string; hash: string }>(
        'SELECT seq, hash FROM token.account_audit_head WHERE id = 1 FOR UPDATE',
      )
    ).rows[0];
    if (head === undefined) throw new Error('token.account_audit_head is missing its row');
    const entry: Omit<AccountAuditEntry, 'hash'> = {
      seq: Number(head.seq) + 1,
      at: new Date(now().getTime()),
      actor: clean(who.actor, 200) || 'unknown',
      via: clean(who.via, 300),
      action: change.action,
      target: change.target,
      detail: JSON.parse(JSON.stringify(change.detail ?? {})) as Record<string, unknown>,
      ip: clean(who.ip, 100),
      userAgent: clean(who.userAgent, 500),
      prevHash: head.hash,
    };
    const hash = accountAuditHash(entry);
    await q.query(
      `INSERT INTO token.account_audit (seq, at, actor, via, action, target, detail, ip, user_agent, prev_hash, hash)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
      [
        entry.seq,
        entry.at,
        entry.actor,
        entry.via,
        entry.action,
        entry.target,
        JSON.stringify(entry.detail),
        entry.ip,
        entry.userAgent,
        entry.prevHash,
        hash,
      ],
    );
    await q.query('UPDATE token.account_audit_head SET seq = $1, hash = $2 WHERE id = 1', [entry.seq, hash]);
    return { ...entry, hash };
  };

  return {
    append: (who, change, tx) =>
      tx === undefined ? db.transaction((t) => append(t, who, change)) : append(tx, who, change),

    async list({ target, limit } = {}) {
      const { rows } = await db.query<Row>(
        `SELECT * FROM token.account_audit WHERE ($1::text IS NULL OR target = $1) ORDER BY seq LIMIT $2`,
        [target ?? null, Math.min(Math.max(limit ?? 100, 1), 1000)],
      );
      return rows.map(toEntry);
    },

    async verify() {
      let expected = 1;
      let prev = GENESIS;
      for (;;) {
        const { rows } = await db.query<Row>(
          'SELECT * FROM token.account_audit WHERE seq >= $1 ORDER BY seq LIMIT 1000',
          [expected],
        );
        for (const row of rows) {
          const e = toEntry(row);
          const fail = (reason: 'hash_mismatch' | 'prev_hash_mismatch' | 'seq_gap') =>
            ({ ok: false, rows: expected - 1, broken: { seq: e.seq, reason } }) as const;
          if (e.seq !== expected) return fail('seq_gap');
          if (e.prevHash !== prev) return fail('prev_hash_mismatch');
          const { hash, ...rest } = e;
          if (accountAuditHash(rest) !== hash) return fail('hash_mismatch');
          prev = hash;
          expected += 1;
        }
        if (rows.length < 1000) break;
      }
      const head = (
        await db.query<{ seq: string; hash: string }>(
          'SELECT seq, hash FROM token.account_audit_head WHERE id = 1',
        )
      ).rows[0];
      if (head === undefined || Number(head.seq) !== expected - 1 || head.hash !== prev) {
        return {
          ok: false,
          rows: expected - 1,
          broken: { seq: Number(head?.seq ?? 0), reason: 'head_mismatch' },
        };
      }
      return { ok: true, rows: expected - 1 };
    },
  };
}
