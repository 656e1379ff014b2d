import { OWNER_ROLE } from './db-roles.js';

/**
 * Search over deliveries (issue 16, search.ts): newest-created pages per tenant, and the dead letters
 * (a partial index: only dead rows pay for it, so the hot path's inserts of pending deliveries do not).
 * Events already have (tenant_id, received_at desc). Runs as the owner, like 0003.
 */
export const SEARCH = `
set local role ${OWNER_ROLE};

create index deliveries_tenant_created on core.deliveries (tenant_id, created_at desc, id desc);
create index deliveries_tenant_dead_created on core.deliveries (tenant_id, created_at desc, id desc)
  where state = 'dead';

reset role;
`;
