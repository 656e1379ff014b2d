import { OWNER_ROLE } from './db-roles.js';

/**
 * Source secret rotation: until `previous_secret_expires_at` the previous secret is still accepted
 * (resolve_source hands it to the ingester after the current one). Provider options such as the
 * timestamp tolerance live in `config` (jsonb) and need no column. `resolve_source` is re-created so
 * its `select *` surely carries the new column. Runs as the owner, like 0003.
 */
export const SOURCE_ROTATION = `
set local role ${OWNER_ROLE};

alter table core.sources
  add column previous_secret_expires_at timestamptz,
  add constraint sources_previous_secret_expiry
    check ((previous_secret_sealed is null) = (previous_secret_expires_at is null)) not valid;

create or replace function core.resolve_source(p_source_id text) returns setof core.sources
  language sql stable security definer set search_path = pg_catalog, pg_temp
  as $$ select * from core.sources s
         where s.id = p_source_id
           and coalesce(current_setting('app.tenant_id', true), '') in ('', s.tenant_id) $$;

reset role;
`;
