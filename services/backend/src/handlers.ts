import { timestampDate } from '@bufbuild/protobuf/wkt';
import type { Db } from '@zenmesh/db';
import { DeliveryService, EndpointService, EventService, SourceService, TenantService } from '@zenmesh/proto';
import { Code, type MeshServer, RpcError } from '@zenmesh/rpc';
import { leaseDeliveries, listDeliveries, reportAttempt } from './deliveries.js';
import { createEndpoint, listEndpoints } from './endpoints.js';
import type { BackendErrorCode } from './errors.js';
import { listEvents, recordEvent } from './events.js';
import type { SecretBoxes } from './secrets.js';
import { createSource, listSources, resolveSource } from './sources.js';
import { createTenant, listTenants } from './tenants.js';
import {
  deliveryToProto,
  endpointToProto,
  eventToProto,
  leasedToProto,
  sourceToProto,
  tenantToProto,
} from './to-proto.js';

export interface BackendDeps {
  db: Db;
  boxes: SecretBoxes;
  /** Injectable jitter source for the retry schedule (tests). */
  random?: () => number;
}

const STATUS: Record<BackendErrorCode, Code> = {
  ERR_INVALID_ARGUMENT: Code.INVALID_ARGUMENT,
  ERR_NOT_FOUND: Code.NOT_FOUND,
  ERR_ALREADY_EXISTS: Code.ALREADY_EXISTS,
  ERR_FAILED_PRECONDITION: Code.FAILED_PRECONDITION,
};

/**
 * Turns store refusals (BackendError) into gRPC statuses with their short reason; anything else
 * propagates and the server answers INTERNAL, keeping the detail in its log.
 */
async function edge<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    const e = err as { name?: unknown; code?: unknown; reason?: unknown };
    if (e?.name === 'BackendError' && typeof e.code === 'string' && typeof e.reason === 'string') {
      const status = STATUS[e.code as BackendErrorCode];
      if (status !== undefined) throw new RpcError(status, e.reason, { cause: err });
    }
    throw err;
  }
}

/** Registers the five backend services on a mesh server (which enforces mTLS + the policy table). */
export function registerBackend(server: Pick<MeshServer, 'register'>, deps: BackendDeps): void {
  const { db, boxes } = deps;

  server.register(TenantService, {
    createTenant: (req) => edge(async () => ({ tenant: tenantToProto(await createTenant(db, req.name)) })),
    listTenants: () => edge(async () => ({ tenants: (await listTenants(db)).map(tenantToProto) })),
  });

  server.register(SourceService, {
    createSource: (req) =>
      edge(async () => {
        const source = await createSource(db, boxes, {
          tenant: req.tenant,
          provider: req.provider,
          name: req.name,
          secret: req.secret,
          generic:
            req.generic === undefined
              ? undefined
              : {
                  header: req.generic.header,
                  algorithm: req.generic.algorithm,
                  encoding: req.generic.encoding,
                  ...(req.generic.prefix === undefined ? {} : { prefix: req.generic.prefix }),
                },
        });
        return { source: sourceToProto(source) };
      }),
    listSources: (req) =>
      edge(async () => ({ sources: (await listSources(db, req.tenant)).map(sourceToProto) })),
    resolveSource: (req) =>
      edge(async () => {
        const { source, secrets } = await resolveSource(db, boxes, req.sourceId);
        return { source: sourceToProto(source), secrets };
      }),
  });

  server.register(EndpointService, {
    createEndpoint: (req) =>
      edge(async () => {
        const { endpoint, signingSecret } = await createEndpoint(db, boxes, {
          tenant: req.tenant,
          url: req.url,
          eventTypes: req.eventTypes,
        });
        return { endpoint: endpointToProto(endpoint), signingSecret };
      }),
    listEndpoints: (req) =>
      edge(async () => ({ endpoints: (await listEndpoints(db, req.tenant)).map(endpointToProto) })),
  });

  server.register(EventService, {
    recordEvent: (req) =>
      edge(async () => {
        const res = await recordEvent(db, {
          sourceId: req.sourceId,
          type: req.type,
          time: req.time === undefined ? undefined : timestampDate(req.time),
          datacontenttype: req.datacontenttype,
          data: req.data,
          providerDeliveryId: req.providerDeliveryId,
        });
        return { event: eventToProto(res.event), duplicate: res.duplicate, deliveryIds: res.deliveryIds };
      }),
    listEvents: (req) =>
      edge(async () => ({ events: (await listEvents(db, req.tenant, req.limit)).map(eventToProto) })),
  });

  server.register(DeliveryService, {
    leaseDeliveries: (req, ctx) =>
      edge(async () => {
        const leased = await leaseDeliveries(db, boxes, {
          max: req.max,
          leaseMs: req.leaseMs,
          eventId: req.eventId,
          owner: ctx.peer.spiffeId,
        });
        return { deliveries: leased.map(leasedToProto) };
      }),
    reportAttempt: (req) =>
      edge(async () => {
        const delivery = await reportAttempt(
          db,
          {
            deliveryId: req.deliveryId,
            leaseToken: req.leaseToken,
            statusCode: req.statusCode,
            error: req.error,
            durationMs: req.durationMs,
            retryAfterS: req.retryAfterS,
          },
          deps.random === undefined ? {} : { random: deps.random },
        );
        return { delivery: deliveryToProto(delivery) };
      }),
    listDeliveries: (req) =>
      edge(async () => ({
        deliveries: (await listDeliveries(db, req.tenant, { limit: req.limit, eventId: req.eventId })).map(
          deliveryToProto,
        ),
      })),
  });
}
