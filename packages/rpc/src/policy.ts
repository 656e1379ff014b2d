/**
 * Which workloads may call which RPC: the one policy table of the mesh (DESIGN.md "Flows and the security
 * matrix"). Keys are full method paths `package.Service/Method`; values are service account names
 * (`sa/<name>` in the SPIFFE ID) within the server's own trust domain and namespace, or `*` for any workload
 * of the mesh. Anything not listed is denied.
 */
export type PolicyTable = Readonly<Record<string, readonly string[]>>;

export const MESH_POLICY: PolicyTable = {
  'zenmesh.v1.TenantService/CreateTenant': ['bff'],
  'zenmesh.v1.TenantService/ListTenants': ['bff'],
  'zenmesh.v1.TenantService/GetTenantSettings': ['bff'],
  'zenmesh.v1.TenantService/UpdateTenantSettings': ['bff'],
  'zenmesh.v1.SourceService/CreateSource': ['bff'],
  'zenmesh.v1.SourceService/ListSources': ['bff'],
  'zenmesh.v1.SourceService/ResolveSource': ['ingester'],
  'zenmesh.v1.SourceService/RotateSourceSecret': ['bff'],
  'zenmesh.v1.SourceService/UpdateSource': ['bff'],
  'zenmesh.v1.SourceService/ReportSignatureFailures': ['ingester'],
  'zenmesh.v1.EndpointService/CreateEndpoint': ['bff'],
  'zenmesh.v1.EndpointService/ListEndpoints': ['bff'],
  'zenmesh.v1.EndpointService/UpdateEndpoint': ['bff'],
  'zenmesh.v1.EndpointService/RotateEndpointSecret': ['bff'],
  'zenmesh.v1.ConnectionService/CreateConnection': ['bff'],
  'zenmesh.v1.ConnectionService/ListConnections': ['bff'],
  'zenmesh.v1.ConnectionService/UpdateConnection': ['bff'],
  'zenmesh.v1.ConnectionService/DeleteConnection': ['bff'],
  'zenmesh.v1.EventService/RecordEvent': ['ingester'],
  'zenmesh.v1.EventService/ListEvents': ['bff'],
  'zenmesh.v1.DeliveryService/LeaseDeliveries': ['egress'],
  'zenmesh.v1.DeliveryService/ReportAttempt': ['egress'],
  'zenmesh.v1.DeliveryService/ListDeliveries': ['bff'],
  'zenmesh.v1.DeliveryService/ListAttempts': ['bff'],
  'zenmesh.v1.DeliveryService/ReplayDelivery': ['bff'],
  'zenmesh.v1.DeliveryService/ReplayEndpoint': ['bff'],
  'zenmesh.v1.DeliveryService/ReplayEvent': ['bff'],
  'zenmesh.v1.AuditService/ListAudit': ['bff'],
  'zenmesh.v1.AuditService/VerifyAudit': ['bff'],
  'zenmesh.v1.EgressService/Dispatch': ['ingester'],
  'zenmesh.v1.TokenService/VerifyApiKey': ['bff'],
  'zenmesh.v1.TokenService/Introspect': ['bff', 'backend'],
  'zenmesh.v1.TokenService/ExchangeApiKey': ['bff'],
  'zenmesh.v1.TokenService/CreateApiKey': ['bff'],
  'zenmesh.v1.TokenService/ListApiKeys': ['bff'],
  'zenmesh.v1.TokenService/RevokeApiKey': ['bff'],
  'zenmesh.v1.TokenService/RotateSigningKey': ['bff'],
  'zenmesh.v1.TokenService/ListSigningKeys': ['bff'],
  'zenmesh.v1.TokenService/CreateUser': ['bff'],
  'zenmesh.v1.TokenService/ListUsers': ['bff'],
  'zenmesh.v1.TokenService/EnrollTotp': ['bff'],
  'zenmesh.v1.TokenService/ConfirmTotp': ['bff'],
  'zenmesh.v1.TokenService/ResetTotp': ['bff'],
  'zenmesh.v1.TokenService/CreateClient': ['bff'],
  'zenmesh.v1.TokenService/ListClients': ['bff'],
  // Any workload fetches the bundle and renews its own SVID (the CA checks "own" itself). Status and rotation:
  // the operator's CLI identity, and the bff for the cluster owner's console page (the bff lets only a caller
  // bound to no tenant with scope admin reach them). Revocation: the CLI alone.
  'zenmesh.v1.CaService/GetTrustBundle': ['*'],
  'zenmesh.v1.CaService/Renew': ['*'],
  'zenmesh.v1.CaService/WatchTrustBundle': ['*'],
  'zenmesh.v1.CaService/AckTrustBundle': ['*'],
  'zenmesh.v1.CaService/WatchRevocations': ['*'],
  'zenmesh.v1.CaService/Status': ['cli', 'bff'],
  // Only the phase of the last rotation (no workloads): the backend notifies tenants of a rollback.
  'zenmesh.v1.CaService/LastRotation': ['backend'],
  'zenmesh.v1.CaService/Rotate': ['cli', 'bff'],
  'zenmesh.v1.CaService/AbortRotation': ['cli', 'bff'],
  'zenmesh.v1.CaService/Revoke': ['cli'],
  'grpc.health.v1.Health/Check': ['*'],
  'grpc.health.v1.Health/Watch': ['*'],
};

export interface Peer {
  spiffeId: string;
  trustDomain: string;
  namespace: string | undefined;
  service: string | undefined;
}

export type PolicyDecision =
  | { allowed: true }
  | { allowed: false; reason: 'foreign_trust_domain' | 'spiffe_id_not_allowed' };

export function authorize(
  policy: PolicyTable,
  path: string,
  peer: Peer,
  own: { trustDomain: string; namespace: string },
): PolicyDecision {
  if (peer.trustDomain !== own.trustDomain) return { allowed: false, reason: 'foreign_trust_domain' };
  const allowed = Object.hasOwn(policy, path) ? policy[path] : undefined;
  if (!allowed || peer.namespace !== own.namespace || peer.service === undefined) {
    return { allowed: false, reason: 'spiffe_id_not_allowed' };
  }
  return allowed.includes('*') || allowed.includes(peer.service)
    ? { allowed: true }
    : { allowed: false, reason: 'spiffe_id_not_allowed' };
}

/** Paths in `policy` that name a method of the given service, for start-up checks. */
export const methodPath = (serviceTypeName: string, methodName: string) => `${serviceTypeName}/${methodName}`;

/** Which workload serves each gRPC service named in `MESH_POLICY` (health is served by all, and unsigned). */
export const MESH_SERVERS: Readonly<Record<string, string>> = {
  'zenmesh.v1.TenantService': 'backend',
  'zenmesh.v1.SourceService': 'backend',
  'zenmesh.v1.EndpointService': 'backend',
  'zenmesh.v1.ConnectionService': 'backend',
  'zenmesh.v1.EventService': 'backend',
  'zenmesh.v1.DeliveryService': 'backend',
  'zenmesh.v1.AuditService': 'backend',
  'zenmesh.v1.EgressService': 'egress',
  'zenmesh.v1.TokenService': 'token',
  'zenmesh.v1.CaService': 'ca',
};

/** The workload identities of a mesh: its six services and the operator's CLI (`sa/cli`). */
export const MESH_WORKLOADS: readonly string[] = [
  'ca',
  'token',
  'backend',
  'egress',
  'ingester',
  'bff',
  'cli',
];

/** gRPC services whose calls are never signed (integrity-exempt), so they need no pair key. */
const UNSIGNED_SERVICES = new Set(['grpc.health.v1.Health']);

/**
 * The service accounts `workload` exchanges signed messages with under `policy`: the servers it may call and
 * the callers it serves (`*` is every workload in `workloads`). These are the pairs its keyring holds, both
 * directions (docs/decisions/0004-per-pair-hmac-keys.md). A policy path whose service has no known server is
 * a mistake in the table and throws.
 */
export function policyPeers(
  workload: string,
  policy: PolicyTable = MESH_POLICY,
  servers: Readonly<Record<string, string>> = MESH_SERVERS,
  workloads: readonly string[] = MESH_WORKLOADS,
): string[] {
  const peers = new Set<string>();
  for (const [path, callers] of Object.entries(policy)) {
    const service = path.slice(0, path.indexOf('/'));
    if (UNSIGNED_SERVICES.has(service)) continue;
    const server = Object.hasOwn(servers, service) ? servers[service] : undefined;
    if (server === undefined) throw new TypeError(`policyPeers: no server is known for ${path}`);
    const expanded = callers.includes('*') ? workloads : callers;
    if (server === workload) for (const c of expanded) peers.add(c);
    else if (expanded.includes(workload)) peers.add(server);
  }
  peers.delete(workload);
  return [...peers].sort();
}
