import { SERVICES } from '../launcher/launch-env.js';

/** The six services of the mesh, in start order (each after the ones it calls): the launcher's list. */
export const MESH_SERVICES = SERVICES;
export type MeshService = (typeof SERVICES)[number];

/** Services that serve gRPC (mutual TLS); the ingester and the bff serve HTTP only. */
export const GRPC_SERVICES: ReadonlySet<MeshService> = new Set(['ca', 'token', 'backend', 'egress']);

export const isMeshService = (name: string): name is MeshService =>
  (MESH_SERVICES as readonly string[]).includes(name);
