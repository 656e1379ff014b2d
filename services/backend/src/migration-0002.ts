import { APP_ROLE, OWNER_ROLE } from './db-roles.js';

/**
 * Real roles: until this migration everything belonged to (and ran as) whoever migrated, usually a
 * superuser, for whom RLS is a no-op. Roles are cluster-wide, so creating one races with migrators
 * of other databases: a duplicate is fine. A migrating connection that may not create roles needs
 * them to exist already (see README "Database roles").
 */
export const ROLES = `
do $$
begin
  if not exists (select 1 from pg_catalog.pg_roles where rolname = '${OWNER_ROLE}') then
    create role ${OWNER_ROLE} nologin bypassrls;
  end if;
exception when duplicate_object or unique_violation then null;
end $$;

do $$
begin
  if not exists (select 1 from pg_catalog.pg_roles where rolname = '${APP_ROLE}') then
    create role ${APP_ROLE} login nosuperuser nobypassrls;
  end if;
exception when duplicate_object or unique_violation then null;
end $$;

-- LOGIN without a password: the backend connects as the role itself where the server lets it (then
-- not even SET ROLE NONE leads back to a superuser); under password authentication it cannot log in
-- until an operator gives it a password, and the backend falls back to SET ROLE (see @zenmesh/db).
do $$
begin
  if exists (select 1 from pg_catalog.pg_roles where rolname = '${APP_ROLE}' and not rolcanlogin)
     and exists (select 1 from pg_catalog.pg_roles where rolname = current_user and rolsuper) then
    alter role ${APP_ROLE} login;
  end if;
exception when others then
  -- Another database's migrator altering the same cluster-wide role at the same moment.
  null;
end $$;

do $$
begin
  -- A pre-existing app role must not be able to skip the policies.
  if exists (select 1 from pg_catalog.pg_roles where rolname = '${APP_ROLE}' and (rolsuper or rolbypassrls)) then
    raise exception 'role ${APP_ROLE} is a superuser or has BYPASSRLS; refusing to run with row-level security off';
  end if;
end $$;

alter schema core owner to ${OWNER_ROLE};
alter table core.tenants owner to ${OWNER_ROLE};
alter table core.sources owner to ${OWNER_ROLE};
alter table core.endpoints owner to ${OWNER_ROLE};
alter table core.events owner to ${OWNER_ROLE};
alter table core.deliveries owner to ${OWNER_ROLE};
alter table core.attempts owner to ${OWNER_ROLE};
alter function core.find_tenant(text) owner to ${OWNER_ROLE};
alter function core.list_tenants() owner to ${OWNER_ROLE};
alter function core.resolve_source(text) owner to ${OWNER_ROLE};
alter function core.delivery_tenant(text) owner to ${OWNER_ROLE};
alter function core.lease_deliveries(integer, integer, text, text) owner to ${OWNER_ROLE};

revoke all on schema core from public;
grant usage on schema core to ${APP_ROLE};
grant select, insert on core.tenants to ${APP_ROLE};
grant select, insert, update on core.sources to ${APP_ROLE};
grant select, insert, update on core.endpoints to ${APP_ROLE};
grant select, insert on core.events to ${APP_ROLE};
grant select, insert, update on core.deliveries to ${APP_ROLE};
grant select, insert on core.attempts to ${APP_ROLE};
grant execute on function core.find_tenant(text) to ${APP_ROLE};
grant execute on function core.list_tenants() to ${APP_ROLE};
grant execute on function core.resolve_source(text) to ${APP_ROLE};
grant execute on function core.delivery_tenant(text) to ${APP_ROLE};
grant execute on function core.lease_deliveries(integer, integer, text, text) to ${APP_ROLE};
`;
