/**
 * Who may call the backend RPCs added for durable delivery and audit (method path → service
 * accounts), in the shape of `MESH_POLICY` in @zenmesh/rpc. They belong in that one table; until they
 * are there, a server built with `policy: { ...MESH_POLICY, ...BACKEND_POLICY_ADDITIONS }` serves them.
 */
export const BACKEND_POLICY_ADDITIONS: Readonly<Record<string, readonly string[]>> = {
  'zenmesh.v1.SourceService/RotateSourceSecret': ['bff'],
  'zenmesh.v1.EndpointService/UpdateEndpoint': ['bff'],
  'zenmesh.v1.EndpointService/RotateEndpointSecret': ['bff'],
  'zenmesh.v1.DeliveryService/ListAttempts': ['bff'],
  'zenmesh.v1.DeliveryService/ReplayDelivery': ['bff'],
  'zenmesh.v1.DeliveryService/ReplayEndpoint': ['bff'],
  'zenmesh.v1.DeliveryService/ReplayEvent': ['bff'],
  'zenmesh.v1.AuditService/ListAudit': ['bff'],
  'zenmesh.v1.AuditService/VerifyAudit': ['bff'],
};
