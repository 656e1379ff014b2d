import { randomToken, sha256Hex } from '@zenmesh/crypto';
import type { Queryable } from '@zenmesh/db';

export const ENROLLMENT_PATH = '/account/totp';

export interface EnrollmentLink {
  userId: string;
  issuedBy: string;
  expiresAt: Date;
  openedAt: Date | null;
}

export interface EnrollmentLinks {
  /** A new one-time link for `userId`; every earlier unfinished link of that user stops working. */
  issue(userId: string, issuedBy: string, tx?: Queryable): Promise<{ url: string; expiresAt: Date }>;
  /** The link behind a token while it is unexpired, unrevoked and not completed; null otherwise. */
  find(token: string): Promise<EnrollmentLink | null>;
  /** Marks the link opened (the secret is about to be shown): true only for the first caller. */
  open(token: string): Promise<boolean>;
  /** Marks an opened link completed (the new factor is confirmed): true only once. */
  complete(token: string): Promise<boolean>;
}

const TOKEN = /^[A-Za-z0-9_-]{43}$/;

/**
 * One-time, expiring TOTP enrollment links: what an admin's reset hands out instead of a secret. The link
 * alone is not enough — the page behind it asks for the user's password before it shows anything — and only
 * the SHA-256 of its token is stored. The token rides in the query string, not the path, because the path
 * is what request logs keep.
 */
export function createEnrollmentLinks(options: {
  db: Queryable;
  issuer: string;
  ttlSec: number;
  now: () => Date;
}): EnrollmentLinks {
  const { db, now } = options;
  const live = `expires_at > $2 AND completed_at IS NULL AND revoked_at IS NULL`;
  return {
    async issue(userId, issuedBy, tx) {
      const q = tx ?? db;
      const token = randomToken(32);
      const at = now();
      const expiresAt = new Date(at.getTime() + options.ttlSec * 1000);
      await q.query(
        `UPDATE token.totp_enrollment_links SET revoked_at = $2
         WHERE user_id = $1 AND completed_at IS NULL AND revoked_at IS NULL`,
        [userId, at],
      );
      await q.query(
        `INSERT INTO token.totp_enrollment_links (token_sha256, user_id, issued_by, created_at, expires_at)
         VALUES ($1, $2, $3, $4, $5)`,
        [sha256Hex(token), userId, issuedBy, at, expiresAt],
      );
      const url = new URL(`${options.issuer}${ENROLLMENT_PATH}`);
      url.searchParams.set('token', token);
      return { url: url.toString(), expiresAt };
    },
    async find(token) {
      if (!TOKEN.test(token)) return null;
      const { rows } = await db.query<{
        user_id: string;
        issued_by: string;
        expires_at: Date;
        opened_at: Date | null;
      }>(
        `SELECT user_id, issued_by, expires_at, opened_at FROM token.totp_enrollment_links
         WHERE token_sha256 = $1 AND ${live}`,
        [sha256Hex(token), now()],
      );
      const r = rows[0];
      return r === undefined
        ? null
        : { userId: r.user_id, issuedBy: r.issued_by, expiresAt: r.expires_at, openedAt: r.opened_at };
    },
    async open(token) {
      if (!TOKEN.test(token)) return false;
      const { rowCount } = await db.query(
        `UPDATE token.totp_enrollment_links SET opened_at = $2
         WHERE token_sha256 = $1 AND opened_at IS NULL AND ${live}`,
        [sha256Hex(token), now()],
      );
      return rowCount === 1;
    },
    async complete(token) {
      if (!TOKEN.test(token)) return false;
      const { rowCount } = await db.query(
        `UPDATE token.totp_enrollment_links SET completed_at = $2
         WHERE token_sha256 = $1 AND opened_at IS NOT NULL AND ${live}`,
        [sha256Hex(token), now()],
      );
      return rowCount === 1;
    },
  };
}
