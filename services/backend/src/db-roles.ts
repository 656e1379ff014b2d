/**
 * The two database roles of schema `core` (cluster-wide names, created by migration 0002 when the
 * migrating connection may create roles):
 * - OWNER owns the schema, the tables and the SECURITY DEFINER functions. It has BYPASSRLS, which is
 *   what lets those few reviewed functions work across tenants; nothing logs in as it.
 * - APP is what the backend runs as after migrating: no superuser, no BYPASSRLS, only the grants it
 *   needs (no DELETE anywhere; the audit log is insert-only), so every FORCE ROW LEVEL SECURITY
 *   policy applies to every statement it runs.
 */
export const OWNER_ROLE = 'zenmesh_owner';
export const APP_ROLE = 'zenmesh_app';
