import { randomBytes } from 'node:crypto';
import { hash as argon2Hash, verify as argon2Verify } from '@node-rs/argon2';
import { isRole, type Role } from '@zenmesh/auth';
import { base32, newId, type SecretBox, sha256Hex } from '@zenmesh/crypto';
import type { Db, Queryable } from '@zenmesh/db';
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
  /** A new TOTP factor has been issued and awaits its confirming code; the active one still applies. */
  mfaPending: boolean;
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
  /** The live user with this (normalised) username. */
  findByUsername(username: string): Promise<UserRecord | null>;
  /** Argon2id check of a live user's password (for re-authentication). */
  verifyPassword(userId: string, password: string): Promise<boolean>;
  /**
   * Re-authentication with the *active* factor: a current TOTP code (single use, as at login) or one unused
   * recovery code (consumed). False when no factor is active.
   */
  verifySecondFactor(userId: string, code: string): Promise<boolean>;
  /**
   * Issues a new, *pending* TOTP secret and recovery codes. The active factor (if any) and its recovery codes
   * keep working until confirmTotp() proves the new secret: restarting enrollment never lowers MFA.
   */
  enrollTotp(userId: string, tx?: Queryable): Promise<TotpEnrollment>;
  /** Proves the pending secret with a code; it then replaces the active factor and its recovery codes. */
  confirmTotp(userId: string, code: string, tx?: Queryable): Promise<boolean>;
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
  totp_pending_sealed: string | null;
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
  db: Db;
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
      mfaPending: row.totp_pending_sealed !== null,
      memberships: rows
        .filter((m) => isRole(m.role))
        .map((m) => ({ tenantId: m.tenant_id === '*' ? null : m.tenant_id, role: m.role as Role })),
    };
  };
  const inTx = <T>(tx: Queryable | undefined, fn: (q: Queryable) => Promise<T>) =>
    tx === undefined ? db.transaction(fn) : fn(tx);
  const byId = async (id: string) =>
    (await db.query<UserRow>('SELECT * FROM token.users WHERE id = $1', [id])).rows[0] ?? null;
  const totpFor = (row: UserRow, sealed: string | null) => {
    if (sealed === null) return null;
    const secret = box.open(sealed, `totp/${row.id}`);
    return new TOTP({
      issuer: options.issuerName ?? 'Zen Mesh',
      label: row.username,
      secret: Secret.fromBase32(secret),
      algorithm: 'SHA1',
      digits: 6,
      period: TOTP_PERIOD,
    });
  };
  /** The time step a code matches for this secret (±1 step), or null. */
  const stepOf = (totp: TOTP | null, code: string): number | null => {
    if (totp === null || !/^\d{6}$/.test(code)) return null;
    const at = now().getTime();
    const delta = totp.validate({ token: code, window: 1, timestamp: at });
    return delta === null ? null : Math.floor(at / 1000 / TOTP_PERIOD) + delta;
  };
  /** RFC 6238 §5.2: a code is accepted once; the step must move forward, so a seen code cannot replay. */
  const checkTotp = async (row: UserRow, code: string): Promise<boolean> => {
    if (row.totp_enabled_at === null) return false;
    const step = stepOf(totpFor(row, row.totp_secret_sealed), code);
    if (step === null) return false;
    const { rowCount } = await db.query(
      `UPDATE token.users SET totp_last_step = $2
       WHERE id = $1 AND (totp_last_step IS NULL OR totp_last_step < $2)`,
      [row.id, step],
    );
    return rowCount === 1;
  };
  const useRecoveryCode = async (row: UserRow, code: string): Promise<boolean> => {
    if (row.totp_enabled_at === null) return false;
    const { rowCount } = await db.query(
      `UPDATE token.recovery_codes SET used_at = $3
       WHERE user_id = $1 AND code_sha256 = $2 AND used_at IS NULL AND NOT pending`,
      [row.id, hashRecovery(code), now()],
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
    async findByUsername(username) {
      const { rows } = await db.query<UserRow>(
        'SELECT * FROM token.users WHERE username = $1 AND disabled_at IS NULL',
        [normalise(username)],
      );
      return rows[0] === undefined ? null : record(rows[0]);
    },
    async verifyPassword(userId, password) {
      const row = await byId(userId);
      const live = row !== null && row.disabled_at === null;
      const ok = await argon2Verify(live ? row.password_hash : await dummyHash, password).catch(() => false);
      return live && ok;
    },
    async verifySecondFactor(userId, code) {
      const row = await byId(userId);
      if (row === null || row.disabled_at !== null || code === '') return false;
      if (/^\d{6}$/.test(code)) return checkTotp(row, code);
      return useRecoveryCode(row, code);
    },
    async enrollTotp(userId, outer) {
      const row = await byId(userId);
      if (row === null) throw new TokenError('ERR_USER_ARGUMENT', 'no such user');
      const secret = new Secret({ size: 20 }).base32;
      const sealed = box.seal(secret, `totp/${userId}`);
      const recoveryCodes = Array.from({ length: RECOVERY_CODE_COUNT }, newRecoveryCode);
      await inTx(outer, async (tx) => {
        // Only the pending slot changes: totp_secret_sealed / totp_enabled_at stay as they are.
        await tx.query(
          'UPDATE token.users SET totp_pending_sealed = $2, totp_pending_at = $3 WHERE id = $1',
          [userId, sealed, now()],
        );
        await tx.query('DELETE FROM token.recovery_codes WHERE user_id = $1 AND pending', [userId]);
        for (const code of recoveryCodes) {
          await tx.query(
            'INSERT INTO token.recovery_codes (user_id, code_sha256, pending) VALUES ($1, $2, true)',
            [userId, hashRecovery(code)],
          );
        }
      });
      const totp = totpFor(row, sealed);
      return { uri: totp?.toString() ?? '', secret, recoveryCodes };
    },
    async confirmTotp(userId, code, outer) {
      const row = await byId(userId);
      if (row === null || row.totp_pending_sealed === null) return false;
      const step = stepOf(totpFor(row, row.totp_pending_sealed), code);
      if (step === null) return false;
      return inTx(outer, async (tx) => {
        // Compare-and-set on the pending secret: a concurrent re-enrollment makes this code worthless. The
        // replay guard restarts with the new secret, at the step its confirming code used.
        const { rowCount } = await tx.query(
          `UPDATE token.users SET totp_secret_sealed = totp_pending_sealed, totp_enabled_at = $3,
             totp_pending_sealed = NULL, totp_pending_at = NULL,
             totp_last_step = $4
           WHERE id = $1 AND totp_pending_sealed = $2`,
          [userId, row.totp_pending_sealed, now(), step],
        );
        if (rowCount !== 1) return false;
        await tx.query('DELETE FROM token.recovery_codes WHERE user_id = $1 AND NOT pending', [userId]);
        await tx.query('UPDATE token.recovery_codes SET pending = false WHERE user_id = $1', [userId]);
        return true;
      });
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
      // A pending (unconfirmed) factor never changes what login asks for: the active one decides.
      if (row.totp_enabled_at === null) return { ok: true, user: await record(row), amr: ['pwd'] };
      if (totp !== undefined && totp !== '') {
        if (!(await checkTotp(row, totp))) return { ok: false, reason: 'invalid_credentials' };
        return { ok: true, user: await record(row), amr: ['pwd', 'otp'] };
      }
      if (recoveryCode !== undefined && recoveryCode !== '') {
        if (!(await useRecoveryCode(row, recoveryCode))) return { ok: false, reason: 'invalid_credentials' };
        return { ok: true, user: await record(row), amr: ['pwd', 'otp'] };
      }
      return { ok: false, reason: 'mfa_required' };
    },
  };
}
