import { APP_ROLE, OWNER_ROLE } from './db-roles.js';

/** True when no tenant scope is set, or it is this tenant: a definer function then never crosses it. */
const IN_SCOPE = (column: string) =>
  `coalesce(current_setting('app.tenant_id', true), '') in ('', ${column})`;

/**
 * Delivery hardening and the audit log:
 * - endpoints: per-endpoint concurrency limit, CloudEvents mode, optional mTLS client identity (key
 *   sealed), why/when disabled, failure streak, expiry of the previous secret during a rotation;
 * - deliveries: replays restart the retry schedule (attempts_at_replay), dead_at;
 * - core.audit + core.audit_heads: one hash chain per tenant (see src/audit.ts);
 * - the SECURITY DEFINER functions now stay inside the caller's tenant scope whenever one is set, so
 *   with tenant A's scope even they cannot show tenant B;
 * - lease_deliveries honours each endpoint's concurrency limit and skips disabled endpoints.
 * Runs as the owner, so everything it creates is the owner's.
 */
/** Enabled endpoints in scope with free slots: max_concurrency minus unexpired leases. */
const SLOTS = `busy as (
        select b.endpoint_id, count(*)::integer as n
          from core.deliveries b
         where b.lease_token is not null and b.lease_expires_at >= now()
         group by b.endpoint_id
      ), slots as (
        select e.id as endpoint_id, e.max_concurrency - coalesce(busy.n, 0) as free
          from core.endpoints e
          left join busy on busy.endpoint_id = e.id
         where e.enabled and e.max_concurrency > coalesce(busy.n, 0) and ${IN_SCOPE('e.tenant_id')}
      )`;

export const DELIVERY_AUDIT = `
set local role ${OWNER_ROLE};

alter table core.endpoints
  add column max_concurrency integer not null default 20,
  add column cloudevents_mode text not null default 'binary',
  add column client_cert_pem text,
  add column client_key_sealed text,
  add column disabled_reason text,
  add column disabled_at timestamptz,
  add column failing_since timestamptz,
  add column consecutive_failures integer not null default 0,
  add column previous_secret_expires_at timestamptz,
  add column updated_at timestamptz not null default now(),
  add constraint endpoints_max_concurrency check (max_concurrency between 1 and 1000),
  add constraint endpoints_cloudevents_mode check (cloudevents_mode in ('binary', 'structured')),
  add constraint endpoints_client_identity check ((client_cert_pem is null) = (client_key_sealed is null)),
  add constraint endpoints_disabled_reason check (disabled_reason in ('operator', 'gone', 'failing'));

alter table core.deliveries
  add column attempts_at_replay integer not null default 0,
  add column replays integer not null default 0,
  add column dead_at timestamptz;

create index deliveries_endpoint_due on core.deliveries (endpoint_id, next_attempt_at, id)
  where state in ('pending', 'retrying');
create index deliveries_leased on core.deliveries (endpoint_id) where lease_token is not null;
create index deliveries_endpoint_dead on core.deliveries (tenant_id, endpoint_id) where state = 'dead';

create table core.audit (
  id text primary key,
  tenant_id text not null references core.tenants (id),
  seq bigint not null,
  at timestamptz not null,
  actor text not null,
  via text not null default '',
  action text not null,
  target text not null,
  before jsonb,
  after jsonb,
  ip text not null default '',
  user_agent text not null default '',
  prev_hash text not null,
  hash text not null,
  constraint audit_tenant_seq_key unique (tenant_id, seq)
);

-- The end of each tenant's chain. Appending locks this row (FOR UPDATE), which serialises the
-- appends of one tenant without a gap or a fork; other tenants never wait.
create table core.audit_heads (
  tenant_id text primary key references core.tenants (id),
  seq bigint not null,
  hash text not null
);

alter table core.audit enable row level security;
alter table core.audit force row level security;
create policy audit_isolation on core.audit
  using (tenant_id = current_setting('app.tenant_id', true))
  with check (tenant_id = current_setting('app.tenant_id', true));

alter table core.audit_heads enable row level security;
alter table core.audit_heads force row level security;
create policy audit_heads_isolation on core.audit_heads
  using (tenant_id = current_setting('app.tenant_id', true))
  with check (tenant_id = current_setting('app.tenant_id', true));

create or replace function core.find_tenant(p_ref text) returns setof core.tenants
  language sql stable security definer set search_path = pg_catalog, pg_temp
  as $$ select * from core.tenants t where (t.id = p_ref or t.name = p_ref) and ${IN_SCOPE('t.id')} $$;

create or replace function core.list_tenants() returns setof core.tenants
  language sql stable security definer set search_path = pg_catalog, pg_temp
  as $$ select * from core.tenants t where ${IN_SCOPE('t.id')} order by t.created_at, t.id $$;

create or replace function core.resolve_source(p_source_id text) returns setof core.sources
  language sql stable security definer set search_path = pg_catalog, pg_temp
  as $$ select * from core.sources s where s.id = p_source_id and ${IN_SCOPE('s.tenant_id')} $$;

create or replace function core.delivery_tenant(p_delivery_id text) returns text
  language sql stable security definer set search_path = pg_catalog, pg_temp
  as $$ select d.tenant_id from core.deliveries d where d.id = p_delivery_id and ${IN_SCOPE('d.tenant_id')} $$;

-- One lease round at a time (a transaction-scoped advisory lock, tried, never waited for): the
-- in-flight count per endpoint read below is then exact across every egress replica, so
-- max_concurrency is a hard limit. Per endpoint with free slots, the
-- earliest due deliveries up to the free count are candidates (index deliveries_endpoint_due);
-- SKIP LOCKED steps over rows a ReportAttempt holds. Disabled endpoints get nothing: their
-- deliveries wait, kept, until the endpoint is enabled again.
create or replace function core.lease_deliveries(p_max integer, p_lease_ms integer, p_event_id text, p_owner text)
  returns setof core.deliveries
  language plpgsql volatile security definer set search_path = pg_catalog, pg_temp
  as $$
  declare
    v_ids text[];
  begin
    -- Another round is leasing right now: answer empty rather than queue behind it. Callers come
    -- back on their next poll or completion, and that round is handing out the due work anyway.
    if not pg_try_advisory_xact_lock(2054581349) then
      return;
    end if;
    if p_event_id is null then
      -- Per endpoint with free slots, its earliest due deliveries up to the free count.
      with ${SLOTS}
      select array_agg(c.id) into v_ids from slots s
       cross join lateral (
         select d.id from core.deliveries d
          where d.endpoint_id = s.endpoint_id
            and d.state in ('pending', 'retrying')
            and d.next_attempt_at <= now()
            and (d.lease_expires_at is null or d.lease_expires_at < now())
          order by d.next_attempt_at, d.id
          limit s.free
       ) c;
    else
      -- A nudge: that event's deliveries only (unique index on event_id, endpoint_id).
      with ${SLOTS}
      select array_agg(d.id) into v_ids from core.deliveries d
        join slots s on s.endpoint_id = d.endpoint_id
       where d.event_id = p_event_id
         and d.state in ('pending', 'retrying')
         and d.next_attempt_at <= now()
         and (d.lease_expires_at is null or d.lease_expires_at < now());
    end if;

    return query
    with due as (
      select d.id from core.deliveries d
       where d.id = any(coalesce(v_ids, '{}'))
         and d.state in ('pending', 'retrying')
         and (d.lease_expires_at is null or d.lease_expires_at < now())
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
    returning d.*;
  end
  $$;

revoke all on function core.lease_deliveries(integer, integer, text, text) from public;
grant execute on function core.lease_deliveries(integer, integer, text, text) to ${APP_ROLE};
grant select, insert on core.audit to ${APP_ROLE};
grant select, insert, update on core.audit_heads to ${APP_ROLE};

reset role;
`;
