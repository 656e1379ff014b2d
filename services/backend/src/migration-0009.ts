import { APP_ROLE, OWNER_ROLE } from './db-roles.js';

/** True when no tenant scope is set, or it is this tenant (as in 0003): a definer function never crosses it. */
const IN_SCOPE = (column: string) =>
  `coalesce(current_setting('app.tenant_id', true), '') in ('', ${column})`;

/**
 * Retention and operational notifications (issue 16; docs/retention.md, docs/notifications.md):
 * - tenants: how long events (with their deliveries and attempts) and audit rows are kept, within bounds the
 *   database itself enforces, and the endpoint operational events go to;
 * - events: operational events (`origin = 'zenmesh'`) have no source; one per dedupe key and tenant;
 * - audit_checkpoints: where a tenant's chain starts once its oldest rows were purged (seq and hash of the
 *   last purged row), so `zenmesh audit verify` still verifies every row that is left;
 * - signature_failures: per source and 5-minute window, the invalid signatures the ingesters report;
 * - core.purge_events / core.purge_audit: the only way rows leave these tables. The backend still has no
 *   DELETE grant; these two SECURITY DEFINER functions delete at most 5000 rows per call (one short
 *   transaction), refuse a cutoff younger than the smallest retention, skip anything a delivery still needs,
 *   and take a per-tenant advisory lock tried, never waited for, so two backend replicas never purge the
 *   same tenant at once.
 * Runs as the owner, like 0003.
 */
export const RETENTION_NOTIFICATIONS = `
set local role ${OWNER_ROLE};

alter table core.tenants
  add column retention_days integer not null default 30,
  add column audit_retention_days integer not null default 365,
  add column notification_endpoint_id text,
  add constraint tenants_retention_days check (retention_days between 1 and 365),
  add constraint tenants_audit_retention_days check (audit_retention_days between 30 and 3650),
  add constraint tenants_notification_endpoint_fkey foreign key (id, notification_endpoint_id)
    references core.endpoints (tenant_id, id);
grant update (retention_days, audit_retention_days, notification_endpoint_id) on core.tenants to ${APP_ROLE};

alter table core.events
  alter column source_id drop not null,
  add column origin text not null default 'webhook',
  add constraint events_origin check (origin in ('webhook', 'zenmesh')),
  add constraint events_origin_source check ((origin = 'zenmesh') = (source_id is null));
create unique index events_operational_key on core.events (tenant_id, provider_delivery_id)
  where origin = 'zenmesh';

create table core.audit_checkpoints (
  tenant_id text primary key references core.tenants (id),
  seq bigint not null,
  hash text not null,
  purged_rows bigint not null,
  at timestamptz not null
);
alter table core.audit_checkpoints enable row level security;
alter table core.audit_checkpoints force row level security;
create policy audit_checkpoints_isolation on core.audit_checkpoints
  using (tenant_id = current_setting('app.tenant_id', true))
  with check (tenant_id = current_setting('app.tenant_id', true));
grant select on core.audit_checkpoints to ${APP_ROLE};

create table core.signature_failures (
  tenant_id text not null,
  source_id text not null,
  window_start timestamptz not null,
  failures bigint not null,
  notified boolean not null default false,
  primary key (tenant_id, source_id, window_start),
  constraint signature_failures_source_fkey foreign key (tenant_id, source_id) references core.sources (tenant_id, id)
);
alter table core.signature_failures enable row level security;
alter table core.signature_failures force row level security;
create policy signature_failures_isolation on core.signature_failures
  using (tenant_id = current_setting('app.tenant_id', true))
  with check (tenant_id = current_setting('app.tenant_id', true));
grant select, insert, update on core.signature_failures to ${APP_ROLE};

-- Events older than p_cutoff whose deliveries are all finished (succeeded or dead, no live lease), with
-- their deliveries and attempts; at most p_limit events per call. Events and their deliveries are locked
-- SKIP LOCKED, so a replay or a report holding one is stepped over (purged next time), never waited on.
create function core.purge_events(p_tenant text, p_cutoff timestamptz, p_limit integer)
  returns table (events integer, deliveries integer, attempts integer)
  language plpgsql volatile security definer set search_path = pg_catalog, pg_temp
  as $$
  declare
    v_events text[];
    v_busy text[];
    v_deliveries text[];
    v_attempts integer;
  begin
    if not (${IN_SCOPE('p_tenant')}) then raise exception 'purge_events: outside the tenant scope'; end if;
    if p_limit is null or p_limit < 1 or p_limit > 5000 then
      raise exception 'purge_events: batch size % outside 1..5000', p_limit;
    end if;
    if p_cutoff is null or p_cutoff > now() - interval '1 day' then
      raise exception 'purge_events: cutoff % is younger than the smallest retention (1 day)', p_cutoff;
    end if;
    perform set_config('lock_timeout', '2000', true);
    if not pg_try_advisory_xact_lock(hashtext('zenmesh.retention.events'), hashtext(p_tenant)) then
      return query select 0, 0, 0;
      return;
    end if;
    -- Events a delivery still needs are left out here (not only after locking), so a backlog of them at the
    -- old end never hides the purgeable events behind it.
    select coalesce(array_agg(c.id), '{}') into v_events from (
      select e.id from core.events e
       where e.tenant_id = p_tenant and e.received_at < p_cutoff
         and not exists (
           select 1 from core.deliveries d
            where d.tenant_id = p_tenant and d.event_id = e.id
              and (d.state in ('pending', 'retrying') or (d.lease_token is not null and d.lease_expires_at >= now())))
       order by e.received_at, e.id
       limit p_limit
       for update skip locked
    ) c;
    -- Lock their deliveries and look again (a replay may have made one due since); an event with one still
    -- due, leased, or locked by someone else stays.
    with locked as (
      select d.id, d.event_id, d.state, d.lease_token, d.lease_expires_at from core.deliveries d
       where d.tenant_id = p_tenant and d.event_id = any(v_events)
       for update skip locked
    )
    select coalesce(array_agg(distinct x.event_id), '{}') into v_busy from (
      select l.event_id from locked l
       where l.state in ('pending', 'retrying') or (l.lease_token is not null and l.lease_expires_at >= now())
      union all
      select d.event_id from core.deliveries d
       where d.tenant_id = p_tenant and d.event_id = any(v_events)
         and not exists (select 1 from locked l where l.id = d.id)
    ) x;
    v_events := array(select unnest(v_events) except select unnest(v_busy));
    select coalesce(array_agg(d.id), '{}') into v_deliveries from core.deliveries d
     where d.tenant_id = p_tenant and d.event_id = any(v_events);
    delete from core.attempts a where a.tenant_id = p_tenant and a.delivery_id = any(v_deliveries);
    get diagnostics v_attempts = row_count;
    delete from core.deliveries d where d.tenant_id = p_tenant and d.id = any(v_deliveries);
    delete from core.events e where e.tenant_id = p_tenant and e.id = any(v_events);
    delete from core.signature_failures s where s.tenant_id = p_tenant and s.window_start < p_cutoff;
    return query select cardinality(v_events), cardinality(v_deliveries), v_attempts;
  end $$;

-- The oldest audit rows at before p_cutoff, in seq order from the chain's start (never past a younger row,
-- and never the newest row), at most p_limit; the checkpoint then names the last one purged. The chain head
-- is locked for the few milliseconds this takes, as an append does.
create function core.purge_audit(p_tenant text, p_cutoff timestamptz, p_limit integer)
  returns integer
  language plpgsql volatile security definer set search_path = pg_catalog, pg_temp
  as $$
  declare
    v_head_seq bigint;
    v_from bigint;
    v_last_seq bigint;
    v_last_hash text;
    v_n integer;
    r record;
  begin
    if not (${IN_SCOPE('p_tenant')}) then raise exception 'purge_audit: outside the tenant scope'; end if;
    if p_limit is null or p_limit < 1 or p_limit > 5000 then
      raise exception 'purge_audit: batch size % outside 1..5000', p_limit;
    end if;
    if p_cutoff is null or p_cutoff > now() - interval '30 days' then
      raise exception 'purge_audit: cutoff % is younger than the smallest audit retention (30 days)', p_cutoff;
    end if;
    perform set_config('lock_timeout', '2000', true);
    if not pg_try_advisory_xact_lock(hashtext('zenmesh.retention.audit'), hashtext(p_tenant)) then
      return 0;
    end if;
    select h.seq into v_head_seq from core.audit_heads h where h.tenant_id = p_tenant for update;
    if v_head_seq is null then return 0; end if;
    select coalesce((select c.seq from core.audit_checkpoints c where c.tenant_id = p_tenant), 0) into v_from;
    v_n := 0;
    for r in
      select a.seq, a.hash, a.at from core.audit a
       where a.tenant_id = p_tenant and a.seq > v_from and a.seq < v_head_seq
       order by a.seq limit p_limit
    loop
      exit when r.at >= p_cutoff or r.seq <> v_from + v_n + 1;
      v_n := v_n + 1;
      v_last_seq := r.seq;
      v_last_hash := r.hash;
    end loop;
    if v_n = 0 then return 0; end if;
    delete from core.audit a where a.tenant_id = p_tenant and a.seq > v_from and a.seq <= v_last_seq;
    insert into core.audit_checkpoints as c (tenant_id, seq, hash, purged_rows, at)
      values (p_tenant, v_last_seq, v_last_hash, v_n, now())
      on conflict (tenant_id) do update
        set seq = excluded.seq, hash = excluded.hash, purged_rows = c.purged_rows + excluded.purged_rows,
            at = excluded.at;
    return v_n;
  end $$;

revoke all on function core.purge_events(text, timestamptz, integer) from public;
revoke all on function core.purge_audit(text, timestamptz, integer) from public;
grant execute on function core.purge_events(text, timestamptz, integer) to ${APP_ROLE};
grant execute on function core.purge_audit(text, timestamptz, integer) to ${APP_ROLE};

reset role;
`;
