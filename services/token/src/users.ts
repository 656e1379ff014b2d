import { randomBytes } from 'node:crypto';
import { hash as argon2Hash, verify as argon2Verify } from '@node-rs/argon2';
import { isRole, type Role } from '@zenmesh/auth';
import { base32, newId, type SecretBox, sha256Hex } from '@zenmesh/crypto';
import type { Queryable } from '@zenmesh/db';
import { Secret, TOTP } from 'otpauth';
import { TokenError } from './errors.js';

// OWASP Password Storage Cheat Sheet: argon2id, m=19 MiB, t=2, p=1 as the minimum configuration.
const ARGON2ID = { algorithm: 2 as const, memoryCost: 19_456, timeCost: 2, parallelism: 1 };
export const RECOVERY_CODE_COUNT = 10;
const TOTP_PERIOD = 30;

export interface UserRecord {
  id: string;
  username: string;
  mfaEnabled: boolean;
  memberships: Array<{ tenantId: string | null; role: Role }>;
}

export type LoginResult =
  | { ok: true; user: UserRecord; amr: string[] }
  | { ok: false; reason: 'invalid_credentials' | 'mfa_required' };

export interface TotpEnrollment {
  /** otpauth:// URI for the authenticator app (carries the secret: show once). */
  uri: string;
  secret: string;
  /** Ten single-use recovery codes, shown once; only their SHA-256 is stored. */
  recoveryCodes: string[];
}

export interface UserStore {
  create(input: { username: string; password: string }): Promise<UserRecord>;
  /** Adds or changes a membership; tenantId null is cluster-wide. */
  setRole(userId: string, tenantId: string | null, role: Role): Promise<void>;
  get(id: string): Promise<UserRecord | null>;
  /** Live users by username; with a tenant id, only those holding a membership in that tenant. */
  list(tenantId?: string): Promise<UserRecord[]>;
  /** Starts TOTP enrollment; MFA is enforced only after confirmTotp() with a valid code. */
  enrollTotp(userId: string): Promise<TotpEnrollment>;
  confirmTotp(userId: string, code: string): Promise<boolean>;
  /** Password, then (when enrolled) a TOTP code or one unused recovery code. */
  login(input: {
    username: string;
    password: string;
    totp?: string;
    recoveryCode?: string;
  }): Promise<LoginResult>;
}

interface UserRow {
  id: string;
  username: string;
  password_hash: string;
  totp_secret_sealed: string | null;
  totp_enabled_at: Date | null;
  totp_last_step: number | null;
  disabled_at: Date | null;
}

const normalise = (username: string) => username.trim().toLowerCase();

/** Recovery codes: 80 random bits as four groups of base32, so a plain SHA-256 resists offline guessing. */
function newRecoveryCode(): string {
  const text = base32(randomBytes(10)).slice(0, 16);
  return `${text.slice(0, 4)}-${text.slice(4, 8)}-${text.slice(8, 12)}-${text.slice(12, 16)}`;
}
const hashRecovery = (code: string) => sha256Hex(code.replace(/[\s-]/g, '').toLowerCase());

export function createUserStore(options: {
  db: Queryable;
  box: SecretBox;
  issuerName?: string;
  now?: () => Date;
}): UserStore {
  const { db, box } = options;
  const now = options.now ?? (() => new Date());
  // Both login branches run argon2 verify: a miss against this dummy costs what a hit costs (no user oracle).
  const dummyHash = argon2Hash(randomBytes(32), ARGON2ID);

  const record = async (row: UserRow): Promise<UserRecord> => {
    const { rows } = await db.query<{ tenant_id: string; role: string }>(
      'SELECT tenant_id, role FROM token.memberships WHERE user_id = $1 ORDER BY tenant_id',
      [row.id],
    );
    return {
      id: row.id,
      username: row.username,
      mfaEnabled: row.totp_enabled_at !== null,
      memberships: rows
        .filter((m) => isRole(m.role))
        .map((m) => ({ tenantId: m.tenant_id === '*' ? null : m.tenant_id, role: m.role as Role })),
    };
  };
  const byId = async (id: string) =>
    (await db.query<UserRow>('SELECT * FROM token.users WHERE id = $1', [id])).rows[0] ?? null;
  const totpFor = (row: UserRow) => {
    if (row.totp_secret_sealed === null) return null;
    const secret = box.open(row.totp_secret_sealed, `totp/${row.id}`);
    return new TOTP({
      issuer: options.issuerName ?? 'Zen Mesh',
      label: row.username,
      secret: Secret.fromBase32(secret),
      algorithm: 'SHA1',
      digits: 6,
      period: TOTP_PERIOD,
    });
  };
  /** RFC 6238 §5.2: a code is accepted once; the step must move forward, so a seen code cannot replay. */
  const checkTotp = async (row: UserRow, code: string): Promise<boolean> => {
    const totp = totpFor(row);
    if (totp === null || !/^\d{6}$/.test(code)) return false;
    const at = now().getTime();
    const delta = totp.validate({ token: code, window: 1, timestamp: at });
    if (delta === null) return false;
    const step = Math.floor(at / 1000 / TOTP_PERIOD) + delta;
    const { rowCount } = await db.query(
      `UPDATE token.users SET totp_last_step = $2
       WHERE id = $1 AND (totp_last_step IS NULL OR totp_last_step < $2)`,
      [row.id, step],
    );
    return rowCount === 1;
  };

  return {
    async create({ username, password }) {
      const name = normalise(username);
      if (!/^[a-z0-9._@+-]{1,200}$/.test(name)) throw new TokenError('ERR_USER_ARGUMENT', 'invalid username');
      if (password.length < 12 || password.length > 1024) {
        throw new TokenError('ERR_USER_ARGUMENT', 'password must be 12-1024 characters');
      }
      const id = newId('usr');
      // ON CONFLICT keeps a concurrent duplicate from surfacing as a raw unique-violation error.
      const { rowCount } = await db.query(
        `INSERT INTO token.users (id, username, password_hash, created_at) VALUES ($1, $2, $3, $4)
         ON CONFLICT (username) DO NOTHING`,
        [id, name, await argon2Hash(password, ARGON2ID), now()],
      );
      if (rowCount !== 1) throw new TokenError('ERR_USER_EXISTS', 'username already taken');
      const row = await byId(id);
      if (row === null) throw new TokenError('ERR_INTERNAL', 'user vanished after insert');
      return record(row);
    },
    async setRole(userId, tenantId, role) {
      await db.query(
        `INSERT INTO token.memberships (user_id, tenant_id, role) VALUES ($1, $2, $3)
         ON CONFLICT (user_id, tenant_id) DO UPDATE SET role = EXCLUDED.role`,
        [userId, tenantId ?? '*', role],
      );
    },
    async get(id) {
      const row = await byId(id);
      return row === null || row.disabled_at !== null ? null : record(row);
    },
    async list(tenantId) {
      const { rows } = await db.query<UserRow>(
        `SELECT u.* FROM token.users u
         WHERE u.disabled_at IS NULL
           AND ($1::text IS NULL OR EXISTS
                (SELECT 1 FROM token.memberships m WHERE m.user_id = u.id AND m.tenant_id = $1))
         ORDER BY u.username`,
        [tenantId ?? null],
      );
      return Promise.all(rows.map(record));
    },
    async enrollTotp(userId) {
      const row = await byId(userId);
      if (row === null) throw new TokenError('ERR_USER_ARGUMENT', 'no such user');
      const secret = new Secret({ size: 20 }).base32;
      const recoveryCodes = Array.from({ length: RECOVERY_CODE_COUNT }, newRecoveryCode);
      await db.query(
        'UPDATE token.users SET totp_secret_sealed = $2, totp_enabled_at = NULL, totp_last_step = NULL WHERE id = $1',
        [userId, box.seal(secret, `totp/${userId}`)],
      );
      await db.query('DELETE FROM token.recovery_codes WHERE user_id = $1', [userId]);
      for (const code of recoveryCodes) {
        await db.query('INSERT INTO token.recovery_codes (user_id, code_sha256) VALUES ($1, $2)', [
          userId,
          hashRecovery(code),
        ]);
      }
      const totp = totpFor({ ...row, totp_secret_sealed: box.seal(secret, `totp/${userId}`) });
      return { uri: totp?.toString() ?? '', secret, recoveryCodes };
    },
    async confirmTotp(userId, code) {
      const row = await byId(userId);
      if (row === null || !(await checkTotp(row, code))) return false;
      await db.query('UPDATE token.users SET totp_enabled_at = $2 WHERE id = $1', [userId, now()]);
      return true;
    },
    async login({ username, password, totp, recoveryCode }) {
      const { rows } = await db.query<UserRow>('SELECT * FROM token.users WHERE username = $1', [
        normalise(username),
      ]);
      const row = rows[0];
      const live = row !== undefined && row.disabled_at === null;
      const passwordOk = await argon2Verify(live ? row.password_hash : await dummyHash, password).catch(
        () => false,
      );
      if (!live || !passwordOk) return { ok: false, reason: 'invalid_credentials' };
      if (row.totp_enabled_at === null) return { ok: true, user: await record(row), amr: ['pwd'] };
      if (totp !== undefined && totp !== '') {
        if (!(await checkTotp(row, totp))) return { ok: false, reason: 'invalid_credentials' };
        return { ok: true, user: await record(row), amr: ['pwd', 'otp'] };
      }
      if (recoveryCode !== undefined && recoveryCode !== '') {
        const { rowCount } = await db.query(
          `UPDATE token.recovery_codes SET used_at = $3
           WHERE user_id = $1 AND code_sha256 = $2 AND used_at IS NULL`,
          [row.id, hashRecovery(recoveryCode), now()],
        );
        if (rowCount !== 1) return { ok: false, reason: 'invalid_credentials' };
        return { ok: true, user: await record(row), amr: ['pwd', 'otp'] };
      }
      return { ok: false, reason: 'mfa_required' };
    },
  };
}
