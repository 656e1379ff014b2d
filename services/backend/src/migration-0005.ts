import { APP_ROLE, OWNER_ROLE } from './db-roles.js';

/**
 * Observability. `core.events.traceparent`: the W3C trace context of the backend's RecordEvent span, so every
 * later hop of the event (each delivery attempt, retries hours later included) joins the webhook's trace,
 * and `zenmesh events show` can name it. Ids only: no payload, no secret.
 *
 * The delivery queue as a scrape sees it (queue-metrics.ts): per open state, how many deliveries, how many
 * are due now and not leased, and the age of the oldest of those. Aggregates only (no ids, no tenants); a
 * SECURITY DEFINER function because the app role sees no rows without a tenant scope, and it stays inside
 * a scope when one is set, like the others. Runs as the owner.
 */
export const OBSERVABILITY = `
set local role ${OWNER_ROLE};

alter table core.events add column traceparent text
  constraint events_traceparent_format check (traceparent ~ '^00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$');

create function core.delivery_queue_stats()
  returns table (state text, deliveries bigint, due bigint, oldest_due_s double precision)
  language sql stable security definer set search_path = pg_catalog, pg_temp
  as $$
    select d.state,
           count(*),
           count(*) filter (where d.next_attempt_at <= now()
                              and (d.lease_expires_at is null or d.lease_expires_at < now())),
           coalesce(extract(epoch from now() - min(d.next_attempt_at)
                      filter (where d.next_attempt_at <= now()
                                and (d.lease_expires_at is null or d.lease_expires_at < now())))::double precision, 0)
      from core.deliveries d
     where d.state in ('pending', 'retrying')
       and coalesce(current_setting('app.tenant_id', true), '') in ('', d.tenant_id)
     group by d.state
  $$;

revoke all on function core.delivery_queue_stats() from public;
grant execute on function core.delivery_queue_stats() to ${APP_ROLE};

reset role;
`;
