import type { Migration } from '@zenmesh/db';
import { ROLES } from './migration-0002.js';
/**
 * Schema `core`, the system of record. Every tenant table has ENABLE + FORCE ROW LEVEL SECURITY with
 * a policy on the transaction-scoped `app.tenant_id` setting (written by `db.withTenant`).
 *
 * The only cross-tenant ways in are the SECURITY DEFINER functions at the end, each one narrow:
 *   core.find_tenant(ref)          tenant by id or name (requests name tenants either way)
 *   core.list_tenants()            the operator's tenant list
 *   core.resolve_source(id)        the source row for the ingester (tenant not yet known)
 *   core.delivery_tenant(id)       which tenant's scope ReportAttempt must enter
 *   core.lease_deliveries(...)     egress claims due work across tenants (FOR UPDATE SKIP LOCKED)
 * They run as the schema owner, which (once roles are hardened) is the only role with BYPASSRLS;
 * EXECUTE is revoked from PUBLIC, and each pins search_path as the Postgres docs require
 * (https://www.postgresql.org/docs/current/sql-createfunction.html#SQL-CREATEFUNCTION-SECURITY).
 * Everything else, including the fan-out and the lease compare-and-set, runs under withTenant.
 */
import { DELIVERY_AUDIT } from './migration-0003.js';
import { SOURCE_ROTATION } from './migration-0004.js';
import { OBSERVABILITY } from './migration-0005.js';
import { ROUTING } from './migration-0006.js';
import { SEARCH } from './migration-0007.js';
import { DELIVERY_CONTROLS } from './migration-0008.js';
import { RETENTION_NOTIFICATIONS } from './migration-0009.js';

const INIT = `
create schema if not exists core;

create table core.tenants (
  id text primary key,
  name text not null,
  created_at timestamptz not null default now(),
  constraint tenants_name_key unique (name),
  constraint tenants_name_format check (name ~ '^[a-z0-9][a-z0-9-]{0,62}$')
);

create table core.sources (
  id text primary key,
  tenant_id text not null references core.tenants (id),
  provider text not null,
  name text not null,
  config jsonb not null default '{}'::jsonb,
  secret_sealed text not null,
  -- Kept during a secret rotation so in-flight webhooks signed with the old secret still verify.
  previous_secret_sealed text,
  created_at timestamptz not null default now(),
  constraint sources_tenant_name_key unique (tenant_id, name),
  constraint sources_tenant_id_key unique (tenant_id, id)
);

create table core.endpoints (
  id text primary key,
  tenant_id text not null references core.tenants (id),
  url text not null,
  event_types text[] not null default '{}',
  enabled boolean not null default true,
  secret_sealed text not null,
  previous_secret_sealed text,
  created_at timestamptz not null default now(),
  constraint endpoints_tenant_id_key unique (tenant_id, id)
);

create table core.events (
  id text primary key,
  tenant_id text not null,
  source_id text not null,
  source text not null,
  type text not null,
  time timestamptz not null,
  datacontenttype text not null,
  data bytea not null,
  provider_delivery_id text,
  received_at timestamptz not null default now(),
  -- The composite keys make a row's tenant agree with its parent's, whatever the caller passes.
  constraint events_source_fkey foreign key (tenant_id, source_id) references core.sources (tenant_id, id),
  constraint events_tenant_id_key unique (tenant_id, id)
);
-- Provider redeliveries collapse onto the first event; RecordEvent relies on this for dedup under concurrency.
create unique index events_source_delivery_key on core.events (source_id, provider_delivery_id)
  where provider_delivery_id is not null;
create index events_tenant_received on core.events (tenant_id, received_at desc);

create table core.deliveries (
  id text primary key,
  tenant_id text not null,
  event_id text not null,
  endpoint_id text not null,
  state text not null default 'pending',
  attempts integer not null default 0,
  next_attempt_at timestamptz,
  lease_owner text,
  lease_token text,
  lease_expires_at timestamptz,
  last_status_code integer,
  last_error text,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  constraint deliveries_state check (state in ('pending', 'retrying', 'succeeded', 'dead')),
  constraint deliveries_event_fkey foreign key (tenant_id, event_id) references core.events (tenant_id, id),
  constraint deliveries_endpoint_fkey foreign key (tenant_id, endpoint_id) references core.endpoints (tenant_id, id),
  constraint deliveries_event_endpoint_key unique (event_id, endpoint_id)
);
create index deliveries_due on core.deliveries (next_attempt_at) where state in ('pending', 'retrying');
create index deliveries_tenant_updated on core.deliveries (tenant_id, updated_at desc);

create table core.attempts (
  id text primary key,
  tenant_id text not null,
  delivery_id text not null references core.deliveries (id),
  attempt integer not null,
  status_code integer not null,
  error text not null default '',
  duration_ms integer not null default 0,
  lease_owner text,
  created_at timestamptz not null default now(),
  constraint attempts_delivery_attempt_key unique (delivery_id, attempt)
);

alter table core.tenants enable row level security;
alter table core.tenants force row level security;
create policy tenants_isolation on core.tenants
  using (id = current_setting('app.tenant_id', true))
  with check (id = current_setting('app.tenant_id', true));

alter table core.sources enable row level security;
alter table core.sources force row level security;
create policy sources_isolation on core.sources
  using (tenant_id = current_setting('app.tenant_id', true))
  with check (tenant_id = current_setting('app.tenant_id', true));

alter table core.endpoints enable row level security;
alter table core.endpoints force row level security;
create policy endpoints_isolation on core.endpoints
  using (tenant_id = current_setting('app.tenant_id', true))
  with check (tenant_id = current_setting('app.tenant_id', true));

alter table core.events enable row level security;
alter table core.events force row level security;
create policy events_isolation on core.events
  using (tenant_id = current_setting('app.tenant_id', true))
  with check (tenant_id = current_setting('app.tenant_id', true));

alter table core.deliveries enable row level security;
alter table core.deliveries force row level security;
create policy deliveries_isolation on core.deliveries
  using (tenant_id = current_setting('app.tenant_id', true))
  with check (tenant_id = current_setting('app.tenant_id', true));

alter table core.attempts enable row level security;
alter table core.attempts force row level security;
create policy attempts_isolation on core.attempts
  using (tenant_id = current_setting('app.tenant_id', true))
  with check (tenant_id = current_setting('app.tenant_id', true));

create function core.find_tenant(p_ref text) returns setof core.tenants
  language sql stable security definer set search_path = pg_catalog, pg_temp
  as $$ select * from core.tenants where id = p_ref or name = p_ref $$;

create function core.list_tenants() returns setof core.tenants
  language sql stable security definer set search_path = pg_catalog, pg_temp
  as $$ select * from core.tenants order by created_at, id $$;

create function core.resolve_source(p_source_id text) returns setof core.sources
  language sql stable security definer set search_path = pg_catalog, pg_temp
  as $$ select * from core.sources where id = p_source_id $$;

create function core.delivery_tenant(p_delivery_id text) returns text
  language sql stable security definer set search_path = pg_catalog, pg_temp
  as $$ select tenant_id from core.deliveries where id = p_delivery_id $$;

-- SKIP LOCKED lets several egress replicas claim disjoint batches without waiting on each other.
-- gen_random_uuid() draws from the server's strong random source (122 random bits per token).
create function core.lease_deliveries(p_max integer, p_lease_ms integer, p_event_id text, p_owner text)
  returns setof core.deliveries
  language sql volatile security definer set search_path = pg_catalog, pg_temp
  as $$
    with due as (
      select d.id from core.deliveries d
       where d.state in ('pending', 'retrying')
         and d.next_attempt_at <= now()
         and (d.lease_expires_at is null or d.lease_expires_at < now())
         and (p_event_id is null or d.event_id = p_event_id)
       order by d.next_attempt_at, d.id
       limit p_max
       for update skip locked
    )
    update core.deliveries d
       set lease_token = replace(gen_random_uuid()::text, '-', ''),
           lease_owner = p_owner,
           lease_expires_at = now() + make_interval(secs => p_lease_ms / 1000.0),
           updated_at = now()
      from due
     where d.id = due.id
    returning d.*
  $$;

revoke all on function core.find_tenant(text) from public;
revoke all on function core.list_tenants() from public;
revoke all on function core.resolve_source(text) from public;
revoke all on function core.delivery_tenant(text) from public;
revoke all on function core.lease_deliveries(integer, integer, text, text) from public;
`;

export const CORE_MIGRATIONS: readonly Migration[] = [
  { id: '0001_init', sql: INIT },
  { id: '0002_roles', sql: ROLES },
  { id: '0003_delivery_audit', sql: DELIVERY_AUDIT },
  { id: '0004_source_rotation', sql: SOURCE_ROTATION },
  { id: '0005_observability', sql: OBSERVABILITY },
  { id: '0006_routing', sql: ROUTING },
  { id: '0007_search', sql: SEARCH },
  { id: '0008_delivery_controls', sql: DELIVERY_CONTROLS },
  { id: '0009_retention_notifications', sql: RETENTION_NOTIFICATIONS },
];

/** The scope these migrations are recorded under in `schema_migrations`. */
export const CORE_MIGRATION_SCOPE = 'core';
