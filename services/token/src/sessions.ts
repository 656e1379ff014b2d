import { newId, randomToken, sha256Hex } from '@zenmesh/crypto';
import type { Db, Queryable } from '@zenmesh/db';
import type { Logger } from '@zenmesh/telemetry';

export const REFRESH_TOKEN_PREFIX = 'zmr_';

export interface SessionRecord {
  id: string;
  clientId: string;
  userId: string | null;
  tenantId: string | null;
  scopes: string[];
  authTime: Date;
}

export type RefreshOutcome =
  | { ok: true; session: SessionRecord; refreshToken: string }
  | { ok: false; reason: 'invalid' | 'reuse_detected' };

export interface SecurityEvent {
  kind: string;
  clientId?: string | null;
  userId?: string | null;
  sessionId?: string | null;
  ip?: string | null;
  detail?: Record<string, unknown>;
}

export interface SessionStore {
  /**
   * A new session (device login) and the first refresh token of its family; inside `tx` when given, so the
   * caller can commit it together with what it was issued for (an authorization code).
   */
  start(
    input: Omit<SessionRecord, 'id'>,
    tx?: Queryable,
  ): Promise<{ session: SessionRecord; refreshToken: string }>;
  /**
   * Rotates a refresh token: single use, bound to the client that received it. A token presented a second
   * time revokes the whole family (OAuth 2.0 Security BCP, RFC 9700 §4.14.2) — unless it comes back within
   * the grace window while its successor is still unused, which is a client that lost our answer: it then
   * gets a fresh successor and the unused one is voided.
   */
  refresh(token: string, clientId: string, ip: string | null): Promise<RefreshOutcome>;
  revokeSession(sessionId: string, reason: string, tx?: Queryable): Promise<void>;
  /** The session of a refresh token, for introspection and revocation; null when unknown. */
  lookup(token: string): Promise<{ session: SessionRecord; active: boolean; expiresAt: Date } | null>;
  audit(event: SecurityEvent, tx?: Queryable): Promise<void>;
}

interface Row {
  token_sha256: string;
  session_id: string;
  created_at: Date;
  expires_at: Date;
  used_at: Date | null;
  revoked_at: Date | null;
  client_id: string;
  user_id: string | null;
  tenant_id: string | null;
  scopes: string[];
  auth_time: Date;
  s_expires_at: Date;
  s_revoked_at: Date | null;
}

const toSession = (r: Row): SessionRecord => ({
  id: r.session_id,
  clientId: r.client_id,
  userId: r.user_id,
  tenantId: r.tenant_id,
  scopes: [...r.scopes],
  authTime: r.auth_time,
});

export function createSessionStore(options: {
  db: Db;
  logger: Logger;
  refreshTokenTtlSec: number;
  sessionMaxAgeSec: number;
  /** Seconds after first use during which a replay is treated as a lost response; 0 disables. */
  graceSec: number;
  now: () => Date;
}): SessionStore {
  const { db, now } = options;
  const newToken = () => `${REFRESH_TOKEN_PREFIX}${randomToken(32)}`;
  const insertToken = async (q: Queryable, sessionId: string, parent: string | null) => {
    const token = newToken();
    const at = now();
    await q.query(
      `INSERT INTO token.refresh_tokens (token_sha256, session_id, parent_sha256, created_at, expires_at)
       VALUES ($1, $2, $3, $4, $5)`,
      [sha256Hex(token), sessionId, parent, at, new Date(at.getTime() + options.refreshTokenTtlSec * 1000)],
    );
    return token;
  };
  const audit = async (q: Queryable, e: SecurityEvent) => {
    await q.query(
      `INSERT INTO token.security_events (at, kind, client_id, user_id, session_id, ip, detail)
       VALUES ($1, $2, $3, $4, $5, $6, $7)`,
      [
        now(),
        e.kind,
        e.clientId ?? null,
        e.userId ?? null,
        e.sessionId ?? null,
        e.ip ?? null,
        JSON.stringify(e.detail ?? {}),
      ],
    );
    options.logger.warn({ event: e.kind, clientId: e.clientId, sessionId: e.sessionId }, 'security event');
  };
  const revoke = (q: Queryable, sessionId: string, reason: string) =>
    q.query(
      'UPDATE token.sessions SET revoked_at = $2, revoked_reason = $3 WHERE id = $1 AND revoked_at IS NULL',
      [sessionId, now(), reason],
    );
  const SELECT = `SELECT t.*, s.client_id, s.user_id, s.tenant_id, s.scopes, s.auth_time,
                         s.expires_at AS s_expires_at, s.revoked_at AS s_revoked_at
                  FROM token.refresh_tokens t JOIN token.sessions s ON s.id = t.session_id
                  WHERE t.token_sha256 = $1`;

  return {
    async start(input, outer) {
      const id = newId('ses');
      const at = now();
      const run = async (tx: Queryable) => {
        await tx.query(
          `INSERT INTO token.sessions (id, client_id, user_id, tenant_id, scopes, auth_time, created_at, expires_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
          [
            id,
            input.clientId,
            input.userId,
            input.tenantId,
            input.scopes,
            input.authTime,
            at,
            new Date(at.getTime() + options.sessionMaxAgeSec * 1000),
          ],
        );
        return { session: { id, ...input }, refreshToken: await insertToken(tx, id, null) };
      };
      return outer === undefined ? db.transaction(run) : run(outer);
    },

    async refresh(token, clientId, ip) {
      if (!token.startsWith(REFRESH_TOKEN_PREFIX) || token.length > 200)
        return { ok: false, reason: 'invalid' };
      const digest = sha256Hex(token);
      return db.transaction(async (tx): Promise<RefreshOutcome> => {
        const row = (await tx.query<Row>(`${SELECT} FOR UPDATE OF t`, [digest])).rows[0];
        if (row === undefined) return { ok: false, reason: 'invalid' };
        const at = now().getTime();
        // Bound to the client it was issued to (RFC 6749 §10.4): another client's token is simply invalid.
        if (row.client_id !== clientId) return { ok: false, reason: 'invalid' };
        if (row.s_revoked_at !== null || row.s_expires_at.getTime() <= at)
          return { ok: false, reason: 'invalid' };
        if (row.revoked_at !== null || row.expires_at.getTime() <= at)
          return { ok: false, reason: 'invalid' };
        if (row.used_at !== null) {
          const children = (
            await tx.query<{ token_sha256: string; used_at: Date | null; revoked_at: Date | null }>(
              'SELECT token_sha256, used_at, revoked_at FROM token.refresh_tokens WHERE parent_sha256 = $1 FOR UPDATE',
              [digest],
            )
          ).rows;
          const withinGrace = at - row.used_at.getTime() <= options.graceSec * 1000;
          const successorUnused = children.every((c) => c.used_at === null);
          if (withinGrace && successorUnused) {
            await tx.query(
              'UPDATE token.refresh_tokens SET revoked_at = $2 WHERE parent_sha256 = $1 AND revoked_at IS NULL',
              [digest, now()],
            );
            await audit(tx, {
              kind: 'refresh_token_grace_replay',
              clientId,
              userId: row.user_id,
              sessionId: row.session_id,
              ip,
            });
            return {
              ok: true,
              session: toSession(row),
              refreshToken: await insertToken(tx, row.session_id, digest),
            };
          }
          await revoke(tx, row.session_id, 'refresh_token_reuse');
          await audit(tx, {
            kind: 'refresh_token_reuse',
            clientId,
            userId: row.user_id,
            sessionId: row.session_id,
            ip,
            detail: { firstUsedAt: row.used_at.toISOString() },
          });
          return { ok: false, reason: 'reuse_detected' };
        }
        await tx.query('UPDATE token.refresh_tokens SET used_at = $2 WHERE token_sha256 = $1', [
          digest,
          now(),
        ]);
        return {
          ok: true,
          session: toSession(row),
          refreshToken: await insertToken(tx, row.session_id, digest),
        };
      });
    },

    async revokeSession(sessionId, reason, tx) {
      await revoke(tx ?? db, sessionId, reason);
    },

    async lookup(token) {
      if (!token.startsWith(REFRESH_TOKEN_PREFIX) || token.length > 200) return null;
      const row = (await db.query<Row>(SELECT, [sha256Hex(token)])).rows[0];
      if (row === undefined) return null;
      const at = now().getTime();
      const active =
        row.used_at === null &&
        row.revoked_at === null &&
        row.s_revoked_at === null &&
        row.expires_at.getTime() > at &&
        row.s_expires_at.getTime() > at;
      return { session: toSession(row), active, expiresAt: row.expires_at };
    },

    audit: (e, tx) => audit(tx ?? db, e),
  };
}
