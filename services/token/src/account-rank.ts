import { hasScopes, type Principal, ROLE_SCOPES, ROLES, type Role } from '@zenmesh/auth';

/**
 * Ranks for account actions that one person takes on another's account (resetting their MFA). A membership
 * ranks by role (reader < operator < admin), and every cluster-wide membership ranks above every tenant one;
 * a cluster-wide admin is a cluster owner.
 */
const rank = (tenantId: string | null, role: Role) =>
  ROLES.indexOf(role) + (tenantId === null ? ROLES.length : 0);

/** What a principal may act as: the highest role whose scopes its token carries, and where. Null: no role. */
export function principalRole(
  p: Pick<Principal, 'scopes' | 'tenantId'>,
): { tenantId: string | null; role: Role } | null {
  for (const role of [...ROLES].reverse()) {
    if (hasScopes(p.scopes, ROLE_SCOPES[role])) return { tenantId: p.tenantId, role };
  }
  return null;
}

/**
 * True when `actor` strictly outranks *every* membership of the target: it must have authority over each
 * membership's tenant (cluster-wide, or that very tenant) and a higher rank there. So a tenant admin cannot
 * touch a user who is also a member elsewhere, nobody touches an equal (admin ↛ admin, owner ↛ owner), and a
 * `keys:admin` holder without a role's full scopes outranks nobody.
 */
export function outranks(
  actor: Pick<Principal, 'scopes' | 'tenantId'>,
  target: { memberships: ReadonlyArray<{ tenantId: string | null; role: Role }> },
): boolean {
  const a = principalRole(actor);
  if (a === null) return false;
  const mine = rank(a.tenantId, a.role);
  return target.memberships.every(
    (m) => (a.tenantId === null || a.tenantId === m.tenantId) && mine > rank(m.tenantId, m.role),
  );
}
