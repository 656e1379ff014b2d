export type { MeshChannel, MeshChannelOptions } from './client.js';
export { createMeshChannel } from './client.js';
export { Code, isRpcError, RpcError } from './errors.js';
export type { FileTlsIdentity, IdentityProvider, TlsIdentity } from './identity.js';
export { createIdentityProvider, loadTlsIdentity, TlsIdentityError } from './identity.js';
export { type MeshDefaults, useMeshDefaults } from './mesh-defaults.js';
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
  signatureMetadata,
  useMessageIntegrity,
} from './message-integrity.js';
export { peerFromCall } from './peer.js';
export type { Peer, PolicyDecision, PolicyTable } from './policy.js';
export { authorize, MESH_POLICY } from './policy.js';
export type { ProbeResult, ProbeTarget } from './probe.js';
export { encodeRequest, probeCall } from './probe.js';
export type { MeshServer, MeshServerOptions, PeerCheck } from './server.js';
export { createMeshServer } from './server.js';
export type { CallContext, CallOptions, ServiceClient, ServiceImpl } from './types.js';
