import { timestampFromDate } from '@bufbuild/protobuf/wkt';
import type { Principal } from '@zenmesh/auth';
import type { Db } from '@zenmesh/db';
import type { AuditContext, TokenService } from '@zenmesh/proto';
import { Code, RpcError, type ServiceImpl } from '@zenmesh/rpc';
import type { AccountActor, AccountAudit } from './account-audit.js';
import { outranks } from './account-rank.js';
import type { EnrollmentLinks } from './enrollment-links.js';
import type { LoginBackoff } from './login-backoff.js';
import type { SessionStore } from './sessions.js';
import type { UserRecord, UserStore } from './users.js';

type Impl = ServiceImpl<(typeof TokenService)['method']>;
type Ctx = Parameters<Impl['enrollTotp']>[1];
type MfaMethods = Pick<Impl, 'enrollTotp' | 'confirmTotp' | 'resetTotp'>;

const USER_ID = /^usr_[a-z2-7]{26}$/;

export const userInfo = (u: UserRecord) => ({
  id: u.id,
  username: u.username,
  mfaEnabled: u.mfaEnabled,
  mfaPending: u.mfaPending,
  memberships: u.memberships.map((m) => ({ tenantId: m.tenantId ?? '', role: m.role })),
});

/** How an audit row names a principal: the same strings the bff and backend use. */
export const actorOf = (p: Principal) =>
  p.keyId !== null
    ? `api_key:${p.keyId}`
    : p.subject === p.clientId
      ? `client:${p.clientId}`
      : `user:${p.subject}`;

/** A login's own token: not an API key (exchanged or not) and not a client acting for itself. */
const isSelf = (p: Principal, userId: string) =>
  p.keyId === null && p.subject !== p.clientId && p.subject === userId;

/**
 * TOTP enrollment over gRPC (issue 12, defect 1). Only two parties may change someone's second factor:
 * the user themself, re-authenticated with their password and current factor, who gets the new secret; or
 * a principal that strictly outranks the user, who gets a one-time link for the user and nothing secret.
 * Either way the old factor keeps applying until the new one is confirmed with a code, and every step —
 * refusals included — is a row in the account audit chain.
 */
export function createAccountMfa(options: {
  db: Db;
  users: UserStore;
  links: EnrollmentLinks;
  audit: AccountAudit;
  backoff: LoginBackoff;
  sessions: SessionStore;
  actor: (ctx: Ctx, scopes: string[]) => Promise<Principal>;
}): MfaMethods {
  const { db, users, links, audit, backoff, sessions, actor } = options;

  const who = (p: Principal, ctx: Ctx, edge: AuditContext | undefined): AccountActor => ({
    actor: actorOf(p),
    via: ctx.peer.spiffeId,
    ip: edge?.ip,
    userAgent: edge?.userAgent,
  });
  const refuse = async (
    by: AccountActor,
    action: string,
    userId: string,
    error: RpcError,
  ): Promise<never> => {
    await audit.append(by, { action, target: `user/${userId}`, detail: { refused: error.reason } });
    throw error;
  };
  /** The caller's own account, or a refusal. The backoff lane is the login session the token came from. */
  const self = async (p: Principal, by: AccountActor, userId: string, action: string) => {
    if (!USER_ID.test(userId)) throw new RpcError(Code.INVALID_ARGUMENT, 'user_id_invalid');
    if (!isSelf(p, userId))
      return refuse(by, action, userId, new RpcError(Code.PERMISSION_DENIED, 'self_only'));
    const user = await users.get(userId);
    if (user === null) throw new RpcError(Code.NOT_FOUND, 'user_not_found');
    return { user, lane: `session:${p.sessionId ?? p.jti}` };
  };
  const claimAttempt = async (user: UserRecord, lane: string, by: AccountActor, action: string) => {
    const verdict = await backoff.begin(user.username, lane);
    if (!verdict.allowed) {
      await refuse(by, action, user.id, new RpcError(Code.RESOURCE_EXHAUSTED, 'account_locked'));
    }
  };

  return {
    async enrollTotp(req, ctx) {
      const p = await actor(ctx, []);
      const by = who(p, ctx, req.audit);
      const { user, lane } = await self(p, by, req.userId, 'totp.enroll');
      if (req.password === '') throw new RpcError(Code.INVALID_ARGUMENT, 'password_required');
      if (user.mfaEnabled && req.currentCode === '')
        throw new RpcError(Code.INVALID_ARGUMENT, 'current_code_required');
      await claimAttempt(user, lane, by, 'totp.enroll');
      // Password first: a wrong one must not use up a recovery code given alongside it.
      const ok =
        (await users.verifyPassword(user.id, req.password)) &&
        (!user.mfaEnabled || (await users.verifySecondFactor(user.id, req.currentCode)));
      if (!ok) {
        await sessions.audit({
          kind: 'reauthentication_failed',
          userId: user.id,
          sessionId: p.sessionId,
          ip: by.ip ?? null,
        });
        return refuse(
          by,
          'totp.enroll',
          user.id,
          new RpcError(Code.PERMISSION_DENIED, 'reauthentication_failed'),
        );
      }
      await backoff.succeed(user.username, lane);
      // The pending factor and its audit row commit together.
      const enrollment = await db.transaction(async (tx) => {
        const e = await users.enrollTotp(user.id, tx);
        await audit.append(
          by,
          { action: 'totp.enroll', target: `user/${user.id}`, detail: { activeFactorKept: user.mfaEnabled } },
          tx,
        );
        return e;
      });
      ctx.logger.info({ userId: user.id }, 'totp enrollment started by the user');
      return { otpauthUri: enrollment.uri, recoveryCodes: enrollment.recoveryCodes };
    },

    async confirmTotp(req, ctx) {
      const p = await actor(ctx, []);
      const by = who(p, ctx, req.audit);
      const { user, lane } = await self(p, by, req.userId, 'totp.confirm');
      if (!user.mfaPending) throw new RpcError(Code.FAILED_PRECONDITION, 'no_pending_enrollment');
      await claimAttempt(user, lane, by, 'totp.confirm');
      const confirmed = await db.transaction(async (tx) => {
        if (!(await users.confirmTotp(user.id, req.code, tx))) return false;
        await audit.append(
          by,
          { action: 'totp.confirmed', target: `user/${user.id}`, detail: { via: 'self' } },
          tx,
        );
        return true;
      });
      if (!confirmed) {
        return refuse(by, 'totp.confirm', user.id, new RpcError(Code.INVALID_ARGUMENT, 'totp_code_invalid'));
      }
      await backoff.succeed(user.username, lane);
      ctx.logger.info({ userId: user.id }, 'totp enrollment confirmed');
      const after = (await users.get(user.id)) ?? user;
      return { user: userInfo(after) };
    },

    async resetTotp(req, ctx) {
      const p = await actor(ctx, ['keys:admin']);
      const by = who(p, ctx, req.audit);
      const user = USER_ID.test(req.userId) ? await users.get(req.userId) : null;
      // Outside the caller's tenant a user is "not found", so a tenant admin learns nothing about others.
      if (
        user === null ||
        (p.tenantId !== null && !user.memberships.some((m) => m.tenantId === p.tenantId))
      ) {
        throw new RpcError(Code.NOT_FOUND, 'user_not_found');
      }
      if (!outranks(p, user)) {
        return refuse(by, 'totp.reset', user.id, new RpcError(Code.PERMISSION_DENIED, 'rank_not_higher'));
      }
      const link = await db.transaction(async (tx) => {
        const issued = await links.issue(user.id, by.actor, tx);
        const detail = { expiresAt: issued.expiresAt.toISOString(), activeFactorKept: user.mfaEnabled };
        await audit.append(by, { action: 'totp.reset_link_issued', target: `user/${user.id}`, detail }, tx);
        return issued;
      });
      ctx.logger.info({ userId: user.id, by: p.subject }, 'totp reset: enrollment link issued');
      return { enrollmentUrl: link.url, expiresAt: timestampFromDate(link.expiresAt), user: userInfo(user) };
    },
  };
}
