/**
 * The scope vocabulary of the admin API. `admin` is the super-scope: it satisfies every requirement (the
 * launcher's bootstrap key carries only `admin`). No other scope implies another, and an empty list grants
 * nothing — unlike some control planes, a key without scopes is NOT a wildcard.
 */
export const SCOPES = [
  'events:read',
  'events:write',
  'sources:read',
  'sources:write',
  'endpoints:read',
  'endpoints:write',
  'replay:write',
  'keys:admin',
  'admin',
] as const;

export type Scope = (typeof SCOPES)[number];

/** OIDC scopes a user-facing client may also request; they grant no API access. */
export const OIDC_SCOPES = ['openid', 'profile', 'email', 'offline_access'] as const;

export const ROLES = ['reader', 'operator', 'admin'] as const;
export type Role = (typeof ROLES)[number];

const READER: readonly Scope[] = ['events:read', 'sources:read', 'endpoints:read'];
const OPERATOR: readonly Scope[] = [
  ...READER,
  'events:write',
  'sources:write',
  'endpoints:write',
  'replay:write',
];

/** What each per-tenant role may be granted; roles are ordered admin > operator > reader. */
export const ROLE_SCOPES: Readonly<Record<Role, readonly Scope[]>> = {
  reader: READER,
  operator: OPERATOR,
  admin: [...OPERATOR, 'keys:admin', 'admin'],
};

export const isScope = (value: string): value is Scope => (SCOPES as readonly string[]).includes(value);
export const isRole = (value: string): value is Role => (ROLES as readonly string[]).includes(value);

/** True when `role` is at least `minimum` (admin > operator > reader). */
export function roleAtLeast(role: Role, minimum: Role): boolean {
  return ROLES.indexOf(role) >= ROLES.indexOf(minimum);
}

/** Splits an RFC 6749 §3.3 scope string (space-delimited, case-sensitive) into distinct tokens. */
export function parseScope(scope: string | undefined | null): string[] {
  if (scope === undefined || scope === null) return [];
  return [...new Set(scope.split(' ').filter((s) => s.length > 0))];
}

/** True when `granted` satisfies every scope in `required`; `admin` satisfies all, nothing else implies. */
export function hasScopes(granted: readonly string[], required: readonly string[]): boolean {
  if (granted.includes('admin')) return true;
  return required.every((s) => granted.includes(s));
}
