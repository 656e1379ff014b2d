import { DbError } from './errors.js';
import type { Queryable } from './types.js';

const ROLE_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

/** Role names go into a startup option and a SET ROLE statement, so only plain identifiers are accepted. */
export function checkRoleName(role: string): string {
  if (!ROLE_NAME.test(role))
    throw new TypeError(`role ${JSON.stringify(role)} must be a lower-case SQL identifier`);
  return role;
}

/**
 * Confirms the connection now runs as `role` and that row-level security binds it: a superuser or a
 * BYPASSRLS role would skip every policy (https://www.postgresql.org/docs/current/ddl-rowsecurity.html).
 */
export async function verifyRole(db: Queryable, role: string): Promise<void> {
  const { rows } = await db.query<{ current_user: string; rolsuper: boolean; rolbypassrls: boolean }>(
    `select current_user, r.rolsuper, r.rolbypassrls from pg_catalog.pg_roles r where r.rolname = current_user`,
  );
  const row = rows[0];
  if (row === undefined || row.current_user !== role) {
    throw new DbError('ERR_ROLE', `expected to run as role ${role}, running as ${row?.current_user ?? '?'}`);
  }
  if (row.rolsuper || row.rolbypassrls) {
    throw new DbError(
      'ERR_ROLE',
      `role ${role} is a superuser or has BYPASSRLS; row-level security would not apply`,
    );
  }
}
