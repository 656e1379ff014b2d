import { randomToken, sha256Hex } from '@zenmesh/crypto';
import type { Queryable } from '@zenmesh/db';

/** `__Host-`: Secure, Path=/, no Domain — only this origin over a secure channel can set or read it. */
export const DEVICE_COOKIE = '__Host-zm_device';
export const DEVICE_COOKIE_MAX_AGE_SEC = 90 * 86_400;

export interface KnownDevices {
  /** A fresh device token for a browser that has just signed in as `userId` (the cookie value). */
  issue(userId: string): Promise<string>;
  /** The user a device token was issued to, while it is unexpired; null for anything else. */
  userOf(token: string | undefined): Promise<string | null>;
  /** The backoff lane of a device token (never the token itself: lanes are stored and logged). */
  lane(token: string): string;
}

/**
 * Device cookies (OWASP "Slow down online guessing attacks with device cookies"): a browser that signed in
 * to an account before gets a random token, stored only as its SHA-256. Failed attempts from it are counted
 * in its own backoff lane, so a stranger hammering the account cannot lock its owner out of a known device.
 */
export function createKnownDevices(options: { db: Queryable; now: () => Date }): KnownDevices {
  const { db, now } = options;
  return {
    async issue(userId) {
      const token = randomToken(32);
      const at = now();
      await db.query('DELETE FROM token.login_devices WHERE expires_at <= $1', [at]);
      await db.query(
        'INSERT INTO token.login_devices (token_sha256, user_id, created_at, expires_at) VALUES ($1, $2, $3, $4)',
        [sha256Hex(token), userId, at, new Date(at.getTime() + DEVICE_COOKIE_MAX_AGE_SEC * 1000)],
      );
      return token;
    },
    async userOf(token) {
      if (token === undefined || !/^[A-Za-z0-9_-]{43}$/.test(token)) return null;
      const { rows } = await db.query<{ user_id: string }>(
        'SELECT user_id FROM token.login_devices WHERE token_sha256 = $1 AND expires_at > $2',
        [sha256Hex(token), now()],
      );
      return rows[0]?.user_id ?? null;
    },
    lane: (token) => `device:${sha256Hex(token).slice(0, 32)}`,
  };
}
