import { newId } from '@zenmesh/crypto';
import type { Db } from '@zenmesh/db';
import type { EndpointRecord } from './records.js';
import { newSigningSecret, type SecretBoxes } from './secrets.js';
import { resolveTenant } from './tenants.js';
import { validateEndpointUrl, validateEventTypes } from './validate.js';

export interface CreateEndpointInput {
  tenant: string;
  url: string;
  eventTypes?: readonly string[];
}

interface EndpointRow {
  id: string;
  tenant_id: string;
  url: string;
  event_types: string[];
  enabled: boolean;
  created_at: Date;
}

const COLUMNS = 'id, tenant_id, url, event_types, enabled, created_at';

const toEndpoint = (r: EndpointRow): EndpointRecord => ({
  id: r.id,
  tenantId: r.tenant_id,
  url: r.url,
  eventTypes: r.event_types,
  enabled: r.enabled,
  createdAt: r.created_at,
});

/** Returns the signing secret in plaintext this once; only its sealed form is stored. */
export async function createEndpoint(
  db: Db,
  boxes: SecretBoxes,
  input: CreateEndpointInput,
): Promise<{ endpoint: EndpointRecord; signingSecret: string }> {
  const url = validateEndpointUrl(input.url);
  const eventTypes = validateEventTypes(input.eventTypes ?? []);
  const tenant = await resolveTenant(db, input.tenant);
  const id = newId('ep');
  const signingSecret = newSigningSecret();
  const sealed = boxes.endpoint.seal(signingSecret, id);
  const row = await db.withTenant(tenant.id, async (tx) => {
    const { rows } = await tx.query<EndpointRow>(
      `insert into core.endpoints (id, tenant_id, url, event_types, secret_sealed)
       values ($1, $2, $3, $4, $5) returning ${COLUMNS}`,
      [id, tenant.id, url, eventTypes, sealed],
    );
    return rows[0];
  });
  if (row === undefined) throw new Error('insert returned no row');
  return { endpoint: toEndpoint(row), signingSecret };
}

export async function listEndpoints(db: Db, tenantRef: string): Promise<EndpointRecord[]> {
  const tenant = await resolveTenant(db, tenantRef);
  return db.withTenant(tenant.id, async (tx) => {
    const { rows } = await tx.query<EndpointRow>(
      `select ${COLUMNS} from core.endpoints where tenant_id = $1 order by created_at, id`,
      [tenant.id],
    );
    return rows.map(toEndpoint);
  });
}
