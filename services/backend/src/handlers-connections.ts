import type { Db } from '@zenmesh/db';
import { ConnectionService } from '@zenmesh/proto';
import type { MeshServer } from '@zenmesh/rpc';
import { createConnection, deleteConnection, listConnections, updateConnection } from './connections.js';
import { edge, RPC_SCOPES as S } from './handler-kit.js';
import { connectionToProto } from './to-proto.js';
import { auditActor as actorOf, type UserGuard } from './user-auth.js';

/** ConnectionService: which endpoints a source routes to, with filters and transformations (routing.ts). */
export function registerConnectionHandlers(
  server: Pick<MeshServer, 'register'>,
  ctx: { db: Db; guard: UserGuard },
): void {
  const { db, guard } = ctx;
  server.register(ConnectionService, {
    createConnection: (req, ctx) =>
      edge(async () => {
        const { tenantId, user } = await guard.tenant(ctx, S.createConnection, req.tenant);
        const connection = await createConnection(db, {
          tenant: tenantId,
          sourceId: req.sourceId,
          endpointId: req.endpointId,
          filter: req.filter,
          transform: req.transform,
          audit: actorOf(user, req.audit, ctx),
        });
        return { connection: connectionToProto(connection) };
      }),
    listConnections: (req, ctx) =>
      edge(async () => {
        const { tenantId } = await guard.tenant(ctx, S.listConnections, req.tenant);
        const list = await listConnections(db, tenantId, {
          sourceId: req.sourceId,
          endpointId: req.endpointId,
        });
        return { connections: list.map(connectionToProto) };
      }),
    updateConnection: (req, ctx) =>
      edge(async () => {
        const { tenantId, user } = await guard.tenant(ctx, S.updateConnection, req.tenant);
        const connection = await updateConnection(db, {
          tenant: tenantId,
          connectionId: req.connectionId,
          filter: req.filter,
          transform: req.transform,
          enabled: req.enabled,
          audit: actorOf(user, req.audit, ctx),
        });
        return { connection: connectionToProto(connection) };
      }),
    deleteConnection: (req, ctx) =>
      edge(async () => {
        const { tenantId, user } = await guard.tenant(ctx, S.updateConnection, req.tenant);
        const connection = await deleteConnection(db, {
          tenant: tenantId,
          connectionId: req.connectionId,
          audit: actorOf(user, req.audit, ctx),
        });
        return { connection: connectionToProto(connection) };
      }),
  });
}
