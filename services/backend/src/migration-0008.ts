import { APP_ROLE, OWNER_ROLE } from './db-roles.js';

/** True when no tenant scope is set, or it is this tenant (as in 0003). */
const IN_SCOPE = (column: string) =>
  `coalesce(current_setting('app.tenant_id', true), '') in ('', ${column})`;

const ACTIVE = `('pending', 'retrying')`;

/**
 * Enabled endpoints in scope with free slots: max_concurrency minus unexpired leases (across every
 * egress), and at most the caller's own room for it (p_room_*, else p_share; 0 = no cap), so one egress
 * never fills its slots with one endpoint.
 */
const SLOTS = `busy as (
        select b.endpoint_id, count(*)::integer as n
          from core.deliveries b
         where b.lease_token is not null and b.lease_expires_at >= now()
         group by b.endpoint_id
      ), room as (
        select r.id, r.n from unnest(p_room_ids, p_room_n) as r(id, n)
      ), slots as (
        select e.id as endpoint_id, e.ordering_key is not null as ordered,
               least(e.max_concurrency - coalesce(busy.n, 0),
                     coalesce(room.n, nullif(p_share, 0), e.max_concurrency)) as free
          from core.endpoints e
          left join busy on busy.endpoint_id = e.id
          left join room on room.id = e.id
         where e.enabled and ${IN_SCOPE('e.tenant_id')}
      )`;

/** Due and not under a live lease. */
const DUE = (d: string) =>
  `${d}.state in ${ACTIVE} and ${d}.next_attempt_at <= now()
            and (${d}.lease_expires_at is null or ${d}.lease_expires_at < now())`;

/**
 * Heads of an ordered endpoint's keys: per key the earliest active delivery (ordering_seq), only when it
 * is due, not leased, and no other delivery of its key is in flight (a replayed older one may meet a
 * newer one still under lease). A retrying head is not due, so its key waits; a dead one is not
 * active, so the next of its key becomes the head.
 */
const HEADS = (endpoint: string) => `select h.id, h.next_attempt_at from (
            select distinct on (o.ordering_key) o.id, o.ordering_key, o.state, o.next_attempt_at, o.lease_expires_at
              from core.deliveries o
             where o.endpoint_id = ${endpoint} and o.ordering_key is not null and o.state in ${ACTIVE}
             order by o.ordering_key, o.ordering_seq, o.id
          ) h
          where ${DUE('h')}
            and not exists (select 1 from core.deliveries l
                             where l.endpoint_id = ${endpoint} and l.ordering_key = h.ordering_key
                               and l.id <> h.id and l.lease_token is not null and l.lease_expires_at >= now())`;

/**
 * Delivery controls (issue 16, docs/routing.md "Throttling and ordering"):
 * - endpoints.rate_per_second / rate_burst: the outbound throttle egress enforces (a token bucket in
 *   Redis shared by every egress); both set or neither;
 * - endpoints.ordering_key: FIFO per key ("$.customer.id" or "header:x-customer");
 * - deliveries.ordering_key / ordering_seq: the key computed when the delivery was routed, and its place
 *   in the endpoint's order (a sequence, so deliveries recorded in one statement keep their order);
 * - core.lease_deliveries gains the caller's fair share per endpoint (p_share, p_room_*) and leases only
 *   the head of each key of an ordered endpoint. The four-argument form stays for older backends.
 * Runs as the owner, like 0003.
 */
export const DELIVERY_CONTROLS = `
set local role ${OWNER_ROLE};

alter table core.endpoints
  add column rate_per_second double precision,
  add column rate_burst integer,
  add column ordering_key text,
  add constraint endpoints_rate check ((rate_per_second is null) = (rate_burst is null)),
  add constraint endpoints_rate_bounds check (rate_per_second is null or (rate_per_second >= 0.01
    and rate_per_second <= 10000 and rate_burst between 1 and 10000)),
  add constraint endpoints_ordering_key_size check (ordering_key is null or length(ordering_key) between 1 and 256);

create sequence core.delivery_order_seq;

alter table core.deliveries
  add column ordering_key text,
  add column ordering_seq bigint,
  add constraint deliveries_ordering_key_size check (ordering_key is null or length(ordering_key) <= 256),
  add constraint deliveries_ordering check ((ordering_key is null) = (ordering_seq is null));

-- Only ordered deliveries pay for these (partial indexes): the heads of each key, and the in-flight check.
create index deliveries_ordered on core.deliveries (endpoint_id, ordering_key, ordering_seq, id)
  where ordering_key is not null and state in ${ACTIVE};
create index deliveries_ordered_leased on core.deliveries (endpoint_id, ordering_key)
  where ordering_key is not null and lease_token is not null;

grant usage on sequence core.delivery_order_seq to ${APP_ROLE};

-- As 0003's (one round at a time under the advisory lock, SKIP LOCKED on the claim), plus the caller's
-- share per endpoint and FIFO heads for ordered endpoints.
create function core.lease_deliveries(p_max integer, p_lease_ms integer, p_event_id text, p_owner text,
                                      p_share integer, p_room_ids text[], p_room_n integer[])
  returns setof core.deliveries
  language plpgsql volatile security definer set search_path = pg_catalog, pg_temp
  as $$
  declare
    v_ids text[];
  begin
    if not pg_try_advisory_xact_lock(2054581349) then
      return;
    end if;
    if p_event_id is null then
      with ${SLOTS}
      select array_agg(c.id) into v_ids from slots s
       cross join lateral (
         select x.id from (
           (select d.id, d.next_attempt_at from core.deliveries d
             where not s.ordered and d.endpoint_id = s.endpoint_id and ${DUE('d')}
             order by d.next_attempt_at, d.id
             limit s.free)
           union all
           (select k.id, k.next_attempt_at from (${HEADS('s.endpoint_id')}) k
             where s.ordered
             order by k.next_attempt_at, k.id
             limit s.free)
         ) x
       ) c
       where s.free > 0;
    else
      -- A nudge: that event's deliveries only; an ordered endpoint's only when it is its key's head.
      with ${SLOTS}
      select array_agg(d.id) into v_ids from core.deliveries d
        join slots s on s.endpoint_id = d.endpoint_id and s.free > 0
       where d.event_id = p_event_id and ${DUE('d')}
         and (not s.ordered or d.id in (select q.id from (${HEADS('d.endpoint_id')}) q));
    end if;

    return query
    with due as (
      select d.id from core.deliveries d
       where d.id = any(coalesce(v_ids, '{}'))
         and d.state in ${ACTIVE}
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

-- Older backends call the four-argument form: the same selection, no caller share.
create or replace function core.lease_deliveries(p_max integer, p_lease_ms integer, p_event_id text, p_owner text)
  returns setof core.deliveries
  language sql volatile security definer set search_path = pg_catalog, pg_temp
  as $$ select * from core.lease_deliveries(p_max, p_lease_ms, p_event_id, p_owner, 0, '{}'::text[], '{}'::integer[]) $$;

revoke all on function core.lease_deliveries(integer, integer, text, text, integer, text[], integer[]) from public;
grant execute on function core.lease_deliveries(integer, integer, text, text, integer, text[], integer[]) to ${APP_ROLE};

reset role;
`;
