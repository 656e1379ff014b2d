import { APP_ROLE, OWNER_ROLE } from './db-roles.js';

/**
 * Routing (issue 16, docs/routing.md):
 * - sources.routing: 'all' (the fan-out of before: every enabled, matching endpoint of the tenant) or
 *   'connections'. Every existing source gets 'all', so nothing an existing tenant receives changes until
 *   it creates a connection (which switches that source, with an audit row);
 * - core.connections: source → endpoint (many-to-many, one per pair) with an optional CEL filter and
 *   transformation, FORCE RLS like every tenant table. Like everywhere else the backend has no DELETE:
 *   deleting a connection sets deleted_at (audited), so deliveries keep naming the connection that
 *   routed them, and the same pair may be connected again;
 * - events.headers: the webhook's request headers (minus credentials, ingester event-headers.ts), which
 *   filters and transformations read;
 * - deliveries.connection_id / body / headers: the connection that routed it and, when a transformation
 *   ran, the body and extra headers delivered instead of the stored event (which stays unchanged).
 * Runs as the owner, like 0003.
 */
export const ROUTING = `
set local role ${OWNER_ROLE};

alter table core.sources
  add column routing text not null default 'all',
  add constraint sources_routing check (routing in ('all', 'connections'));

alter table core.events
  add column headers jsonb not null default '{}'::jsonb;

create table core.connections (
  id text primary key,
  tenant_id text not null references core.tenants (id),
  source_id text not null,
  endpoint_id text not null,
  filter text not null default '',
  transform text not null default '',
  enabled boolean not null default true,
  deleted_at timestamptz,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  constraint connections_source_fkey foreign key (tenant_id, source_id) references core.sources (tenant_id, id),
  constraint connections_endpoint_fkey foreign key (tenant_id, endpoint_id) references core.endpoints (tenant_id, id),
  constraint connections_tenant_id_key unique (tenant_id, id),
  constraint connections_expression_size check (length(filter) <= 2048 and length(transform) <= 2048)
);
-- One live connection per (source, endpoint); deleted ones stay as history.
create unique index connections_source_endpoint_key on core.connections (source_id, endpoint_id)
  where deleted_at is null;
create index connections_tenant_source on core.connections (tenant_id, source_id) where deleted_at is null;

alter table core.connections enable row level security;
alter table core.connections force row level security;
create policy connections_isolation on core.connections
  using (tenant_id = current_setting('app.tenant_id', true))
  with check (tenant_id = current_setting('app.tenant_id', true));

alter table core.deliveries
  add column connection_id text,
  add column body bytea,
  add column headers jsonb,
  add constraint deliveries_connection_fkey foreign key (tenant_id, connection_id)
    references core.connections (tenant_id, id);

grant select, insert, update on core.connections to ${APP_ROLE};

-- Re-created so that its select * surely carries the new column (as in 0004).
create or replace function core.resolve_source(p_source_id text) returns setof core.sources
  language sql stable security definer set search_path = pg_catalog, pg_temp
  as $$ select * from core.sources s
         where s.id = p_source_id
           and coalesce(current_setting('app.tenant_id', true), '') in ('', s.tenant_id) $$;

reset role;
`;
