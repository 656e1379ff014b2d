export type {
  Admission,
  AdmissionOptions,
  AdmissionRequest,
  AdmissionVerdict,
  MetadataReader,
  RefusalStatus,
} from './admission.js';
export { createAdmission } from './admission.js';
export type { IdentityProvider, TlsIdentity } from './certificate-provider.js';
export { createIdentityProvider } from './certificate-provider.js';
export type { MeshChannel, MeshChannelOptions } from './client.js';
export { createMeshChannel } from './client.js';
export { Code, isRpcError, RpcError } from './errors.js';
export type {
  IntegrityRefusal,
  MessageIntegrity,
  MessageIntegrityOptions,
  RunningMessageIntegrity,
} from './message-integrity.js';
export {
  createMessageIntegrity,
  INTEGRITY_EXEMPT,
  INTEGRITY_METADATA,
  parseSignature,
  signatureMetadata,
} from './message-integrity.js';
export type { PeerCheck } from './peer.js';
export { peerFromCall } from './peer.js';
export type { FileTlsIdentity } from './pem-identity.js';
export { loadTlsIdentity, TlsIdentityError } from './pem-identity.js';
export type { Peer, PolicyDecision, PolicyTable } from './policy.js';
export { authorize, MESH_POLICY, MESH_SERVERS, MESH_WORKLOADS, policyPeers } from './policy.js';
export type { ProbeResult, ProbeSession, ProbeTarget } from './probe.js';
export { createProbeSession, encodeRequest, probeCall } from './probe.js';
export type { MeshServer, MeshServerOptions } from './server.js';
export { createMeshServer } from './server.js';
export type { CallContext, CallOptions, MeshTransport, ServiceClient, ServiceImpl } from './types.js';
