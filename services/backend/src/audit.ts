import { createHash } from 'node:crypto';
import { newId } from '@zenmesh/crypto';
import type { Tx } from '@zenmesh/db';
import canonicalize from 'canonicalize';
import { internal } from './errors.js';

/** Who caused a mutation: the edge's view (actor, IP, user agent) plus the workload that carried it. */
export interface AuditActor {
  /** "api_key:key_...", "user:...", "system"; empty is recorded as "unknown". */
  actor: string;
  /** SPIFFE ID of the calling workload (or the backend's own, for decisions it takes itself). */
  via?: string | undefined;
  ip?: string | undefined;
  userAgent?: string | undefined;
}

export interface AuditChange {
  /** `<resource>.<verb>`, e.g. "endpoint.update". */
  action: string;
  /** `<resource>/<id>`. */
  target: string;
  /** JSON snapshots; never secrets. */
  before: unknown;
  after: unknown;
}

export interface AuditEntryRecord {
  id: string;
  tenantId: string;
  seq: number;
  at: Date;
  actor: string;
  via: string;
  action: string;
  target: string;
  before: unknown;
  after: unknown;
  ip: string;
  userAgent: string;
  prevHash: string;
  hash: string;
}

/** prev_hash of the first row of every chain. */
export const GENESIS_HASH = '0'.repeat(64);

/** Stands in for a caller that said nothing about itself. */
export const SYSTEM_ACTOR: AuditActor = { actor: 'system' };

export interface AuditRow {
  id: string;
  tenant_id: string;
  seq: number;
  at: Date;
  actor: string;
  via: string;
  action: string;
  target: string;
  before: unknown;
  after: unknown;
  ip: string;
  user_agent: string;
  prev_hash: string;
  hash: string;
}

export const AUDIT_COLUMNS =
  'id, tenant_id, seq, at, actor, via, action, target, before, after, ip, user_agent, prev_hash, hash';

export const toEntry = (r: AuditRow): AuditEntryRecord => ({
  id: r.id,
  tenantId: r.tenant_id,
  seq: r.seq,
  at: r.at,
  actor: r.actor,
  via: r.via,
  action: r.action,
  target: r.target,
  before: r.before,
  after: r.after,
  ip: r.ip,
  userAgent: r.user_agent,
  prevHash: r.prev_hash,
  hash: r.hash,
});

// Printable, bounded: these come from request headers the edge passed on.
const clean = (value: string | undefined, max: number): string =>
  [...(value ?? '')]
    .filter((c) => c.charCodeAt(0) >= 0x20 && c.charCodeAt(0) !== 0x7f)
    .join('')
    .slice(0, max);

/**
 * SHA-256 (hex) of a row's canonical form: RFC 8785 JSON canonicalization of every column except the
 * hash itself, prev_hash included, so a row changed in any way, or re-linked, no longer matches. The
 * snapshots are compared as JSON values, so jsonb's own key order and spacing do not matter.
 */
export function auditRowHash(e: Omit<AuditEntryRecord, 'hash'>): string {
  const canonical = canonicalize({
    v: 1,
    id: e.id,
    tenantId: e.tenantId,
    seq: e.seq,
    at: e.at.toISOString(),
    actor: e.actor,
    via: e.via,
    action: e.action,
    target: e.target,
    before: e.before ?? null,
    after: e.after ?? null,
    ip: e.ip,
    userAgent: e.userAgent,
    prevHash: e.prevHash,
  });
  if (canonical === undefined) throw new TypeError('audit row is not serialisable');
  return createHash('sha256').update(canonical, 'utf8').digest('hex');
}

/**
 * Appends one row to the tenant's chain inside the caller's transaction (which must be that tenant's
 * scope), so the audit row commits or rolls back with the mutation it records. The chain head row is
 * locked FOR UPDATE: appends of one tenant queue, and each sees the hash the previous one wrote.
 */
export async function appendAudit(
  tx: Tx,
  tenantId: string,
  who: AuditActor,
  change: AuditChange,
): Promise<AuditEntryRecord> {
  await tx.query(
    `insert into core.audit_heads (tenant_id, seq, hash) values ($1, 0, $2) on conflict (tenant_id) do nothing`,
    [tenantId, GENESIS_HASH],
  );
  const { rows } = await tx.query<{ seq: number; hash: string }>(
    'select seq, hash from core.audit_heads where tenant_id = $1 for update',
    [tenantId],
  );
  const head = rows[0];
  if (head === undefined) throw internal('audit head vanished');
  // JSON round trip: what is hashed is exactly what jsonb will hand back (no undefined, no Dates).
  const snapshot = (v: unknown): unknown =>
    v === undefined || v === null ? null : JSON.parse(JSON.stringify(v));
  const entry: Omit<AuditEntryRecord, 'hash'> = {
    id: newId('aud'),
    tenantId,
    seq: head.seq + 1,
    // Millisecond precision, as JavaScript and both drivers keep it: the stored value hashes the same.
    at: new Date(),
    actor: clean(who.actor, 200) || 'unknown',
    via: clean(who.via, 300),
    action: change.action,
    target: change.target,
    before: snapshot(change.before),
    after: snapshot(change.after),
    ip: clean(who.ip, 100),
    userAgent: clean(who.userAgent, 500),
    prevHash: head.hash,
  };
  const hash = auditRowHash(entry);
  await tx.query(
    `insert into core.audit (${AUDIT_COLUMNS}) values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)`,
    [
      entry.id,
      tenantId,
      entry.seq,
      entry.at,
      entry.actor,
      entry.via,
      entry.action,
      entry.target,
      entry.before === null ? null : JSON.stringify(entry.before),
      entry.after === null ? null : JSON.stringify(entry.after),
      entry.ip,
      entry.userAgent,
      entry.prevHash,
      hash,
    ],
  );
  await tx.query('update core.audit_heads set seq = $2, hash = $3 where tenant_id = $1', [
    tenantId,
    entry.seq,
    hash,
  ]);
  return { ...entry, hash };
}
