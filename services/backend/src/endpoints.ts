import { newId } from '@zenmesh/crypto';
import type { Db, Tx } from '@zenmesh/db';
import { type AuditActor, appendAudit, SYSTEM_ACTOR } from './audit.js';
import { adoptUnkeyed, validateRateLimit } from './endpoint-controls.js';
import { BackendError, internal, invalid, notFound } from './errors.js';
import { validateOrderingKey } from './ordering-key.js';
import type { CloudEventsMode, DisabledReason, EndpointRecord } from './records.js';
import { newSigningSecret, type SecretBoxes } from './secrets.js';
import { queryTenantRows, resolveTenant } from './tenants.js';
import { validateClientIdentity, validateEndpointUrl, validateEventTypes } from './validate.js';

export const DEFAULT_MAX_CONCURRENCY = 20;
export const MAX_MAX_CONCURRENCY = 1000;
/** How long the previous signing secret keeps signing after a rotation, unless told otherwise. */
export const DEFAULT_PREVIOUS_SECRET_S = 24 * 3600;
export const MAX_PREVIOUS_SECRET_S = 7 * 24 * 3600;

export interface CreateEndpointInput {
  tenant: string;
  url: string;
  eventTypes?: readonly string[];
  /** 0 or absent: the default (20). */
  maxConcurrency?: number | undefined;
  /** Empty or absent: binary. */
  cloudeventsMode?: string | undefined;
  clientCertPem?: string | undefined;
  clientKeyPem?: string | undefined;
  /** Outbound throttle; 0 or absent: none. Burst 0 or absent: ceil(rate). */
  ratePerSecond?: number | undefined;
  rateBurst?: number | undefined;
  /** FIFO key ("$.path" or "header:name"); '' or absent: no ordering. */
  orderingKey?: string | undefined;
  audit?: AuditActor | undefined;
}

export interface UpdateEndpointInput {
  tenant: string;
  endpointId: string;
  url?: string | undefined;
  /** Replaces the filter when set (empty array = every type). */
  eventTypes?: readonly string[] | undefined;
  enabled?: boolean | undefined;
  maxConcurrency?: number | undefined;
  cloudeventsMode?: string | undefined;
  clientCertPem?: string | undefined;
  clientKeyPem?: string | undefined;
  clearClientCert?: boolean | undefined;
  /** Set: replaces the throttle (0 removes it). */
  ratePerSecond?: number | undefined;
  rateBurst?: number | undefined;
  /** Set: replaces the ordering key ('' removes it). */
  orderingKey?: string | undefined;
  audit?: AuditActor | undefined;
}

export interface EndpointRow {
  id: string;
  tenant_id: string;
  url: string;
  event_types: string[];
  enabled: boolean;
  created_at: Date;
  max_concurrency: number;
  cloudevents_mode: CloudEventsMode;
  disabled_reason: DisabledReason | null;
  disabled_at: Date | null;
  consecutive_failures: number;
  failing_since: Date | null;
  client_cert_pem: string | null;
  previous_secret_expires_at: Date | null;
  rate_per_second: number | null;
  rate_burst: number | null;
  ordering_key: string | null;
}

export const ENDPOINT_COLUMNS =
  'id, tenant_id, url, event_types, enabled, created_at, max_concurrency, cloudevents_mode, disabled_reason, disabled_at, consecutive_failures, failing_since, client_cert_pem, previous_secret_expires_at, rate_per_second, rate_burst, ordering_key';

export const toEndpoint = (r: EndpointRow): EndpointRecord => ({
  id: r.id,
  tenantId: r.tenant_id,
  url: r.url,
  eventTypes: r.event_types,
  enabled: r.enabled,
  createdAt: r.created_at,
  maxConcurrency: r.max_concurrency,
  cloudeventsMode: r.cloudevents_mode,
  disabledReason: r.disabled_reason,
  disabledAt: r.disabled_at,
  consecutiveFailures: r.consecutive_failures,
  failingSince: r.failing_since,
  hasClientCert: r.client_cert_pem !== null,
  previousSecretExpiresAt: r.previous_secret_expires_at,
  rateLimit:
    r.rate_per_second === null || r.rate_burst === null
      ? null
      : { perSecond: r.rate_per_second, burst: r.rate_burst },
  orderingKey: r.ordering_key,
});

/** What the audit log keeps of an endpoint: everything but secrets and the client key. */
export const endpointSnapshot = (e: EndpointRecord) => ({
  url: e.url,
  eventTypes: e.eventTypes,
  enabled: e.enabled,
  disabledReason: e.disabledReason,
  maxConcurrency: e.maxConcurrency,
  cloudeventsMode: e.cloudeventsMode,
  hasClientCert: e.hasClientCert,
  rateLimit: e.rateLimit,
  orderingKey: e.orderingKey,
});

function validateMaxConcurrency(n: number | undefined): number {
  if (n === undefined || n === 0) return DEFAULT_MAX_CONCURRENCY;
  if (!Number.isInteger(n) || n < 1 || n > MAX_MAX_CONCURRENCY) throw invalid('invalid_max_concurrency');
  return n;
}

function validateMode(mode: string | undefined): CloudEventsMode {
  if (mode === undefined || mode === '') return 'binary';
  if (mode !== 'binary' && mode !== 'structured') throw invalid('invalid_cloudevents_mode');
  return mode;
}

/** Returns the signing secret in plaintext this once; only its sealed form is stored. */
export async function createEndpoint(
  db: Db,
  boxes: SecretBoxes,
  input: CreateEndpointInput,
): Promise<{ endpoint: EndpointRecord; signingSecret: string }> {
  const url = validateEndpointUrl(input.url);
  const eventTypes = validateEventTypes(input.eventTypes ?? []);
  const maxConcurrency = validateMaxConcurrency(input.maxConcurrency);
  const mode = validateMode(input.cloudeventsMode);
  const identity = validateClientIdentity(input.clientCertPem, input.clientKeyPem);
  const rate = validateRateLimit(input.ratePerSecond, input.rateBurst);
  const orderingKey = validateOrderingKey(input.orderingKey);
  const tenant = await resolveTenant(db, input.tenant);
  const id = newId('ep');
  const signingSecret = newSigningSecret();
  const sealed = boxes.endpoint.seal(signingSecret, id);
  const sealedKey = identity === undefined ? null : boxes.clientKey.seal(identity.keyPem, id);
  const endpoint = await db.withTenant(tenant.id, async (tx) => {
    const { rows } = await tx.query<EndpointRow>(
      `insert into core.endpoints (id, tenant_id, url, event_types, secret_sealed, max_concurrency, cloudevents_mode,
                                   client_cert_pem, client_key_sealed, rate_per_second, rate_burst, ordering_key)
       values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) returning ${ENDPOINT_COLUMNS}`,
      [
        id,
        tenant.id,
        url,
        eventTypes,
        sealed,
        maxConcurrency,
        mode,
        identity?.certPem ?? null,
        sealedKey,
        rate?.perSecond ?? null,
        rate?.burst ?? null,
        orderingKey,
      ],
    );
    const row = rows[0];
    if (row === undefined) throw internal('endpoint insert returned no row');
    const created = toEndpoint(row);
    await appendAudit(tx, tenant.id, input.audit ?? SYSTEM_ACTOR, {
      action: 'endpoint.create',
      target: `endpoint/${id}`,
      before: null,
      after: endpointSnapshot(created),
    });
    return created;
  });
  return { endpoint, signingSecret };
}

export const listEndpoints = (db: Db, tenantRef: string): Promise<EndpointRecord[]> =>
  queryTenantRows(
    db,
    tenantRef,
    `select ${ENDPOINT_COLUMNS} from core.endpoints where tenant_id = $1 order by created_at, id`,
    (id) => [id],
    toEndpoint,
  );

/** The endpoint row, locked for the rest of the transaction; NOT_FOUND `endpoint_not_found`. */
export async function lockEndpoint(tx: Tx, tenantId: string, endpointId: string): Promise<EndpointRecord> {
  if (endpointId.length === 0 || endpointId.length > 64) throw notFound('endpoint_not_found');
  const { rows } = await tx.query<EndpointRow>(
    // NO KEY UPDATE: serialises changes to the endpoint without blocking RecordEvent, whose delivery inserts take
    // FOR KEY SHARE on it (the foreign key); FOR UPDATE conflicted with those and could deadlock (chaos run).
    `select ${ENDPOINT_COLUMNS} from core.endpoints where tenant_id = $1 and id = $2 for no key update`,
    [tenantId, endpointId],
  );
  const row = rows[0];
  if (row === undefined) throw notFound('endpoint_not_found');
  return toEndpoint(row);
}

/**
 * Changes the fields given. Enabling clears the disabled reason and the failure streak (the
 * deliveries kept while it was disabled then flow again); disabling records reason "operator".
 */
export async function updateEndpoint(
  db: Db,
  boxes: SecretBoxes,
  input: UpdateEndpointInput,
): Promise<EndpointRecord> {
  const url = input.url === undefined ? undefined : validateEndpointUrl(input.url);
  const eventTypes = input.eventTypes === undefined ? undefined : validateEventTypes(input.eventTypes);
  const maxConcurrency =
    input.maxConcurrency === undefined ? undefined : validateMaxConcurrency(input.maxConcurrency);
  const mode = input.cloudeventsMode === undefined ? undefined : validateMode(input.cloudeventsMode);
  const replacing = input.clientCertPem !== undefined || input.clientKeyPem !== undefined;
  if (replacing && input.clearClientCert) throw invalid('client_cert_conflict');
  const identity = replacing ? validateClientIdentity(input.clientCertPem, input.clientKeyPem) : undefined;
  if (replacing && identity === undefined) throw invalid('client_cert_and_key_required');
  if (input.rateBurst !== undefined && input.ratePerSecond === undefined) {
    throw invalid('invalid_rate_limit: a burst needs a rate');
  }
  const rate =
    input.ratePerSecond === undefined ? undefined : validateRateLimit(input.ratePerSecond, input.rateBurst);
  const orderingKey = input.orderingKey === undefined ? undefined : validateOrderingKey(input.orderingKey);
  const tenant = await resolveTenant(db, input.tenant);
  return db.withTenant(tenant.id, async (tx) => {
    const before = await lockEndpoint(tx, tenant.id, input.endpointId);
    const sets: string[] = [];
    const params: unknown[] = [tenant.id, before.id];
    const set = (column: string, value: unknown) => {
      params.push(value);
      sets.push(`${column} = $${params.length}`);
    };
    if (url !== undefined) set('url', url);
    if (eventTypes !== undefined) set('event_types', eventTypes);
    if (maxConcurrency !== undefined) set('max_concurrency', maxConcurrency);
    if (mode !== undefined) set('cloudevents_mode', mode);
    if (identity !== undefined) {
      set('client_cert_pem', identity.certPem);
      set('client_key_sealed', boxes.clientKey.seal(identity.keyPem, before.id));
    }
    if (input.clearClientCert) {
      set('client_cert_pem', null);
      set('client_key_sealed', null);
    }
    if (rate !== undefined) {
      set('rate_per_second', rate?.perSecond ?? null);
      set('rate_burst', rate?.burst ?? null);
    }
    if (orderingKey !== undefined && orderingKey !== before.orderingKey) {
      set('ordering_key', orderingKey);
      // Switched on: the waiting deliveries made before have no key; they become one queue of their own
      // (key '', in the order they were made) so they are leased as heads like the others.
      if (orderingKey !== null) await adoptUnkeyed(tx, tenant.id, before.id);
    }
    if (input.enabled === true && !before.enabled) {
      set('enabled', true);
      sets.push(
        'disabled_reason = null',
        'disabled_at = null',
        'failing_since = null',
        'consecutive_failures = 0',
      );
    } else if (input.enabled === false && before.enabled) {
      set('enabled', false);
      sets.push(`disabled_reason = 'operator'`, 'disabled_at = now()');
    }
    if (sets.length === 0) return before;
    const { rows } = await tx.query<EndpointRow>(
      `update core.endpoints set ${sets.join(', ')}, updated_at = now()
        where tenant_id = $1 and id = $2 returning ${ENDPOINT_COLUMNS}`,
      params,
    );
    const row = rows[0];
    if (row === undefined) throw notFound('endpoint_not_found');
    const after = toEndpoint(row);
    await appendAudit(tx, tenant.id, input.audit ?? SYSTEM_ACTOR, {
      action: 'endpoint.update',
      target: `endpoint/${after.id}`,
      before: endpointSnapshot(before),
      after: endpointSnapshot(after),
    });
    return after;
  });
}

/**
 * A new signing secret; the current one becomes the previous and keeps signing (both signatures are
 * sent) until `previousValidS` has passed, so receivers can switch without losing a delivery.
 */
export async function rotateEndpointSecret(
  db: Db,
  boxes: SecretBoxes,
  input: { tenant: string; endpointId: string; previousValidS?: number; audit?: AuditActor | undefined },
): Promise<{ endpoint: EndpointRecord; signingSecret: string }> {
  const validS =
    input.previousValidS === undefined || input.previousValidS === 0
      ? DEFAULT_PREVIOUS_SECRET_S
      : input.previousValidS;
  if (!Number.isInteger(validS) || validS < 1 || validS > MAX_PREVIOUS_SECRET_S) {
    throw invalid('invalid_previous_valid_s');
  }
  const tenant = await resolveTenant(db, input.tenant);
  const signingSecret = newSigningSecret();
  return db.withTenant(tenant.id, async (tx) => {
    const before = await lockEndpoint(tx, tenant.id, input.endpointId);
    const { rows } = await tx.query<EndpointRow>(
      `update core.endpoints
          set previous_secret_sealed = secret_sealed, secret_sealed = $3,
              previous_secret_expires_at = now() + make_interval(secs => $4::float8), updated_at = now()
        where tenant_id = $1 and id = $2 returning ${ENDPOINT_COLUMNS}`,
      [tenant.id, before.id, boxes.endpoint.seal(signingSecret, before.id), validS],
    );
    const row = rows[0];
    if (row === undefined) throw new BackendError('ERR_NOT_FOUND', 'endpoint_not_found');
    const endpoint = toEndpoint(row);
    await appendAudit(tx, tenant.id, input.audit ?? SYSTEM_ACTOR, {
      action: 'endpoint.rotate_secret',
      target: `endpoint/${endpoint.id}`,
      before: null,
      after: { previousSecretExpiresAt: endpoint.previousSecretExpiresAt },
    });
    return { endpoint, signingSecret };
  });
}
