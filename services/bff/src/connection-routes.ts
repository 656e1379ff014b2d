import { type Timestamp, timestampDate } from '@bufbuild/protobuf/wkt';
import type { Connection } from '@zenmesh/proto';
import { UpstreamAnswerError } from './api-errors.js';
import type { BackendClients } from './backend-clients.js';
import { connectionQuery, createConnectionBody, updateConnectionBody } from './request-schemas.js';
import { connectionAnswerSchema, connectionListSchema } from './response-schemas.js';
import { jsonBody, parse, type Route, tenantRoute } from './route-kit.js';

export interface ConnectionJson {
  id: string;
  tenantId: string;
  sourceId: string;
  endpointId: string;
  /** CEL; '' delivers every event. */
  filter: string;
  /** CEL producing {"body": …, "headers": {…}}; '' delivers the event as received. */
  transform: string;
  enabled: boolean;
  createdAt: string | null;
  updatedAt: string | null;
}

const iso = (ts: Timestamp | undefined): string | null =>
  ts === undefined ? null : timestampDate(ts).toISOString();

export const connectionJson = (c: Connection): ConnectionJson => ({
  id: c.id,
  tenantId: c.tenantId,
  sourceId: c.sourceId,
  endpointId: c.endpointId,
  filter: c.filter,
  transform: c.transform,
  enabled: c.enabled,
  createdAt: iso(c.createdAt),
  updatedAt: iso(c.updatedAt),
});

const answered = (rpc: string, c: Connection | undefined) => {
  if (c === undefined) throw new UpstreamAnswerError(rpc, 'a connection');
  return { connection: connectionJson(c) };
};

/** /api/v1/tenants/{tenant}/connections: sources routed to endpoints (docs/routing.md). */
export function createConnectionRoutes(backend: BackendClients): Route[] {
  const connections = backend.connections;
  if (connections === undefined) return [];
  const route = (...args: Parameters<typeof tenantRoute> extends [unknown, ...infer R] ? R : never) =>
    tenantRoute(backend, ...args);
  return [
    route(
      'POST',
      'connections',
      ['endpoints:write'],
      async ({ req, call, audit }, tenant) => {
        const input = parse(createConnectionBody, await jsonBody(req));
        const { connection } = await connections.createConnection(
          {
            tenant,
            sourceId: input.sourceId,
            endpointId: input.endpointId,
            filter: input.filter ?? '',
            transform: input.transform ?? '',
            audit,
          },
          call,
        );
        return { status: 201, body: answered('CreateConnection', connection) };
      },
      {
        summary: 'Connect a source to an endpoint',
        body: createConnectionBody,
        response: connectionAnswerSchema,
        status: 201,
      },
    ),
    route(
      'GET',
      'connections',
      ['endpoints:read'],
      async ({ query, call }, tenant) => {
        const q = parse(connectionQuery, {
          sourceId: query.get('sourceId') ?? undefined,
          endpointId: query.get('endpointId') ?? undefined,
        });
        const res = await connections.listConnections(
          { tenant, sourceId: q.sourceId ?? '', endpointId: q.endpointId ?? '' },
          call,
        );
        return { status: 200, body: { connections: res.connections.map(connectionJson) } };
      },
      { summary: 'List connections', query: connectionQuery, response: connectionListSchema },
    ),
    route(
      'POST',
      'connections/:id',
      ['endpoints:write'],
      async ({ req, call, audit }, tenant, id) => {
        const input = parse(updateConnectionBody, await jsonBody(req));
        const { connection } = await connections.updateConnection(
          {
            tenant,
            connectionId: id,
            ...(input.filter === undefined ? {} : { filter: input.filter }),
            ...(input.transform === undefined ? {} : { transform: input.transform }),
            ...(input.enabled === undefined ? {} : { enabled: input.enabled }),
            audit,
          },
          call,
        );
        return { status: 200, body: answered('UpdateConnection', connection) };
      },
      { summary: 'Change a connection', body: updateConnectionBody, response: connectionAnswerSchema },
    ),
    route(
      'DELETE',
      'connections/:id',
      ['endpoints:write'],
      async ({ call, audit }, tenant, id) => {
        const { connection } = await connections.deleteConnection({ tenant, connectionId: id, audit }, call);
        return { status: 200, body: answered('DeleteConnection', connection) };
      },
      { summary: 'Delete a connection', response: connectionAnswerSchema },
    ),
  ];
}
