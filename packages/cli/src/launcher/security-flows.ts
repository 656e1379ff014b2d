import { randomBytes } from 'node:crypto';
import { base32 } from '@zenmesh/crypto';
import {
  CaService,
  DeliveryService,
  EgressService,
  SourceService,
  TenantService,
  TokenService,
} from '@zenmesh/proto';

/** The attacks `zenmesh verify` tries on every internal flow, and the legitimate call that must pass. */
export const PROBES = [
  'no_client_cert',
  'foreign_trust_domain',
  'wrong_spiffe_id',
  'no_hmac',
  'bad_hmac',
  'stale_timestamp',
  'replayed_nonce',
  'tampered_metadata',
  'other_service_key',
  'legitimate',
] as const;
export type ProbeName = (typeof PROBES)[number];

export interface FlowSpec {
  client: string;
  server: string;
  // biome-ignore lint/suspicious/noExplicitAny: a table of different services
  service: any;
  method: string;
  /** A request whose handler has no lasting effect. */
  request: () => Record<string, unknown>;
  /** A SPIFFE ID from our own CA that the policy does not allow for this RPC. */
  wrong: { service: string; namespace?: string };
}

const randomId = (prefix: string) => `${prefix}_${base32(randomBytes(16))}`;

/** Every internal flow of the security matrix (DESIGN.md "Flows and the security matrix"). */
export const FLOWS: readonly FlowSpec[] = [
  {
    client: 'bff',
    server: 'backend',
    service: TenantService,
    method: 'listTenants',
    request: () => ({}),
    wrong: { service: 'ingester' },
  },
  {
    client: 'bff',
    server: 'token',
    service: TokenService,
    method: 'verifyApiKey',
    request: () => ({ apiKey: 'zm_verify-probe-not-a-key' }),
    wrong: { service: 'ingester' },
  },
  // Any workload of the mesh may read the trust bundle, so the wrong identity is one from another namespace.
  {
    client: 'bff',
    server: 'ca',
    service: CaService,
    method: 'getTrustBundle',
    request: () => ({}),
    wrong: { service: 'bff', namespace: 'intruder' },
  },
  // The bff reads the CA's state for the cluster owner's console page (and starts/aborts rotations, which a
  // probe must not do): its status is the flow's legitimate call. Only cli and bff may: ingester is wrong.
  {
    client: 'bff',
    server: 'ca',
    service: CaService,
    method: 'status',
    request: () => ({}),
    wrong: { service: 'ingester' },
  },
  {
    client: 'ingester',
    server: 'backend',
    service: SourceService,
    method: 'resolveSource',
    request: () => ({ sourceId: randomId('src') }),
    wrong: { service: 'bff' },
  },
  {
    client: 'ingester',
    server: 'egress',
    service: EgressService,
    method: 'dispatch',
    request: () => ({ eventId: randomId('evt') }),
    wrong: { service: 'bff' },
  },
  {
    client: 'egress',
    server: 'backend',
    service: DeliveryService,
    method: 'leaseDeliveries',
    // Leases only deliveries of an event that does not exist: nothing is taken from the real egress.
    request: () => ({ max: 1, leaseMs: 1000, eventId: randomId('evt') }),
    wrong: { service: 'ingester' },
  },
  // The backend polls the last rotation's phase to notify tenants of a rollback (docs/notifications.md).
  {
    client: 'backend',
    server: 'ca',
    service: CaService,
    method: 'lastRotation',
    request: () => ({}),
    wrong: { service: 'ingester' },
  },
];

export const flowName = (f: { client: string; server: string }) => `${f.client} → ${f.server}`;

/**
 * Cells a caller must NOT reach even with its own, correctly signed identity: each must be refused
 * `PERMISSION_DENIED spiffe_id_not_allowed` by the policy. The requests would have no lasting effect if the
 * policy were wrong (a revocation of a serial that does not exist, a read of the CA's status).
 */
export interface DeniedSpec {
  client: string;
  server: string;
  // biome-ignore lint/suspicious/noExplicitAny: a table of different services
  service: any;
  method: string;
  request: () => Record<string, unknown>;
}

export const DENIED: readonly DeniedSpec[] = [
  // The console may read and rotate the CA, never revoke: revocation stays the CLI's.
  {
    client: 'bff',
    server: 'ca',
    service: CaService,
    method: 'revoke',
    request: () => ({ serial: `00${randomBytes(8).toString('hex')}`, reason: 'zenmesh verify probe' }),
  },
  // The services that face tenants' traffic read nothing of the CA's administration.
  { client: 'ingester', server: 'ca', service: CaService, method: 'status', request: () => ({}) },
  { client: 'egress', server: 'ca', service: CaService, method: 'status', request: () => ({}) },
];
