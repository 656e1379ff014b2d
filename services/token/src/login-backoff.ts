import type { Queryable } from '@zenmesh/db';

/**
 * How the per-account backoff grows. After `freeFailures` failures in a row, each further attempt earns a
 * lock of `baseSec · 2^(n − freeFailures − 1)` seconds, capped at `maxSec`; a quiet `forgetAfterSec` since
 * the last failure starts the count again.
 */
export interface BackoffPolicy {
  freeFailures: number;
  baseSec: number;
  maxSec: number;
  forgetAfterSec: number;
}

/** 4 free tries, then 2 s, 4 s, 8 s … capped at 15 minutes; forgotten after a quiet day. */
export const DEFAULT_BACKOFF: BackoffPolicy = {
  freeFailures: 4,
  baseSec: 2,
  maxSec: 900,
  forgetAfterSec: 86_400,
};

/** The lane of callers who present no device cookie of the account (strangers, and the user on a new device). */
export const OPEN_LANE = '*';

export type BackoffVerdict =
  | { allowed: true; failures: number; lockedForSec: number }
  | { allowed: false; retryAfterSec: number };

export interface LoginBackoff {
  /**
   * Claims one attempt for (account, lane) before any credential is checked. The attempt is counted as a
   * failure up front — so a burst of parallel guesses cannot all slip in before the first one fails — and
   * `succeed()` clears it. Refused while the lane is locked; a refused attempt does not extend the lock.
   */
  begin(account: string, lane: string): Promise<BackoffVerdict>;
  /** The attempt proved the credentials: this lane of the account starts again from zero. */
  succeed(account: string, lane: string): Promise<void>;
}

/** Seconds of lock earned by the `failures`-th failure in a row. */
export function lockSeconds(failures: number, policy: BackoffPolicy): number {
  if (failures <= policy.freeFailures) return 0;
  return Math.min(policy.maxSec, policy.baseSec * 2 ** (failures - policy.freeFailures - 1));
}

/**
 * The per-account backoff of failed logins and TOTP codes, kept in Postgres (token.login_backoff) so that
 * every replica and every restart sees the same count — independent of the caller's IP, which an attacker
 * rotates for free. Accounts are keyed by normalised username whether or not the user exists, so the backoff
 * itself tells nobody which usernames are real.
 *
 * The trade-off (docs/security-matrix.md, "Login backoff"): a lock that only grows would let a stranger lock
 * a real user out for good. So the lock is capped (15 min), refused attempts do not extend it, and counts
 * are kept per *lane*: a browser that signed in to this account before carries a device cookie and has its
 * own lane, which a stranger's failures never touch. The price: while a stranger keeps failing, the user on
 * a new device waits up to the cap between tries, and the stranger's guessing rate is held to a few per hour.
 */
export function createLoginBackoff(options: {
  db: Queryable;
  policy?: BackoffPolicy;
  now: () => Date;
}): LoginBackoff {
  const policy = options.policy ?? DEFAULT_BACKOFF;
  const { db, now } = options;
  const key = (account: string) => account.trim().toLowerCase().slice(0, 200);

  return {
    async begin(account, lane) {
      const at = now();
      const stale = new Date(at.getTime() - policy.forgetAfterSec * 1000);
      // Forgotten rows go first, so strangers trying random usernames cannot grow the table without bound.
      await db.query(
        `DELETE FROM token.login_backoff
         WHERE last_failure_at < $1 AND (locked_until IS NULL OR locked_until < $2)`,
        [stale, at],
      );
      // One statement: increment unless locked (the WHERE), and compute the lock this attempt earns.
      const failuresExpr = `CASE WHEN b.last_failure_at < $4 THEN 1 ELSE b.failures + 1 END`;
      const { rows } = await db.query<{ failures: number; locked_until: Date | null }>(
        `INSERT INTO token.login_backoff AS b (account, lane, failures, last_failure_at, locked_until)
         VALUES ($1, $2, 1, $3, CASE WHEN 1 > $5 THEN $3::timestamptz + make_interval(secs => $6) END)
         ON CONFLICT (account, lane) DO UPDATE SET
           failures = ${failuresExpr},
           last_failure_at = $3,
           locked_until = CASE WHEN ${failuresExpr} > $5
             THEN $3::timestamptz + make_interval(secs => LEAST($7::float8, $6::float8 * power(2, ${failuresExpr} - $5 - 1)))
             END
         WHERE b.locked_until IS NULL OR b.locked_until <= $3
         RETURNING failures, locked_until`,
        [key(account), lane, at, stale, policy.freeFailures, policy.baseSec, policy.maxSec],
      );
      const claimed = rows[0];
      if (claimed !== undefined) {
        return {
          allowed: true,
          failures: claimed.failures,
          lockedForSec: lockSeconds(claimed.failures, policy),
        };
      }
      const { rows: locked } = await db.query<{ locked_until: Date | null }>(
        'SELECT locked_until FROM token.login_backoff WHERE account = $1 AND lane = $2',
        [key(account), lane],
      );
      const until = locked[0]?.locked_until?.getTime() ?? at.getTime();
      return { allowed: false, retryAfterSec: Math.max(1, Math.ceil((until - at.getTime()) / 1000)) };
    },

    async succeed(account, lane) {
      await db.query('DELETE FROM token.login_backoff WHERE account = $1 AND lane = $2', [
        key(account),
        lane,
      ]);
    },
  };
}
