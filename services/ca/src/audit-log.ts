import { createHash } from 'node:crypto';
import type { ConfinedDir } from './confined-dir.js';
import { CaError } from './errors.js';

export type AuditAction =
  | 'ca.created'
  | 'svid.joined'
  | 'svid.renewed'
  | 'svid.issued'
  | 'svid.revoked'
  | 'join.refused'
  | 'renew.refused'
  | 'rotation.step'
  | 'rotation.rolled_back'
  | 'rotation.failed'
  | 'rotation.completed'
  | 'ca.retired';

export interface AuditEntry {
  seq: number;
  at: string;
  action: AuditAction;
  /** SPIFFE ID of whoever caused it (the caller, `join-token`, or the CA itself). */
  actor: string;
  details: Record<string, unknown>;
  prev: string;
  hash: string;
}

export interface AuditLog {
  append(action: AuditAction, actor: string, details: Record<string, unknown>): AuditEntry;
  entries(): AuditEntry[];
  /** Checks every link; returns the seq of the first broken entry, or undefined when the chain is whole. */
  verify(): number | undefined;
}

const FILE = 'issuance.log';
const GENESIS = '0'.repeat(64);

const hashOf = (e: Omit<AuditEntry, 'hash'>) =>
  createHash('sha256')
    .update(JSON.stringify([e.seq, e.at, e.action, e.actor, e.details, e.prev]))
    .digest('hex');

/**
 * The CA's own append-only issuance log: one JSON line per issuance, renewal, revocation and rotation step,
 * each holding the SHA-256 of the one before, so a deleted or edited line breaks the chain at that point. It
 * never holds key material or join tokens (only their ids). The tenant audit trail (issue 6) is separate.
 */
export function openAuditLog(dir: ConfinedDir, now: () => Date = () => new Date()): AuditLog {
  const parse = (): AuditEntry[] =>
    (dir.read(FILE) ?? '')
      .split('\n')
      .filter((l) => l.trim() !== '')
      .map((line, i) => {
        try {
          return JSON.parse(line) as AuditEntry;
        } catch (cause) {
          throw new CaError('ERR_AUDIT_LOG', `${FILE} line ${i + 1} is not JSON`, { cause });
        }
      });
  const existing = parse();
  let last = existing.at(-1);
  return {
    append(action, actor, details) {
      const body = {
        seq: (last?.seq ?? 0) + 1,
        at: now().toISOString(),
        action,
        actor,
        details,
        prev: last?.hash ?? GENESIS,
      };
      const entry: AuditEntry = { ...body, hash: hashOf(body) };
      dir.append(FILE, `${JSON.stringify(entry)}\n`);
      last = entry;
      return entry;
    },
    entries: parse,
    verify() {
      let prev = GENESIS;
      for (const e of parse()) {
        const { hash, ...body } = e;
        if (e.prev !== prev || hashOf(body) !== hash) return e.seq;
        prev = hash;
      }
      return undefined;
    },
  };
}
