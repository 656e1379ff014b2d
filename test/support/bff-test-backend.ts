// The in-test backend behind the bff's HTTP app: canned proto answers, every call recorded, and tenants whose
// name makes the call fail the way the real backend would.
import { create } from '@bufbuild/protobuf';
import { timestampFromDate } from '@bufbuild/protobuf/wkt';
import type { BackendClients } from '@zenmesh/bff';
import {
  AttemptSchema,
  AuditEntrySchema,
  CreateEndpointResponseSchema,
  CreateSourceResponseSchema,
  CreateTenantResponseSchema,
  DeliverySchema,
  DeliveryState,
  EndpointSchema,
  EventSchema,
  ListDeliveriesResponseSchema,
  ListEndpointsResponseSchema,
  ListEventsResponseSchema,
  ListSourcesResponseSchema,
  ListTenantsResponseSchema,
  ReplayEndpointResponseSchema,
  ReplayEventResponseSchema,
  SourceSchema,
  type Tenant,
  TenantSchema,
} from '@zenmesh/proto';
import { Code, RpcError } from '@zenmesh/rpc';

// ---- a small in-test backend: the real one is another service; this one records what it was asked ----

export const T0 = new Date('2030-05-01T12:00:00.000Z');
export const ACME: Tenant = create(TenantSchema, {
  id: 'ten_acmeacmeacmeacmeacmeacmeac',
  name: 'acme',
  createdAt: timestampFromDate(T0),
});
export const GLOBEX: Tenant = create(TenantSchema, {
  id: 'ten_globexglobexglobexglobexgl',
  name: 'globex',
  createdAt: timestampFromDate(T0),
});

export const SOURCE_SECRET = 'whsrc_source-secret-that-must-not-be-logged';
export const SIGNING_SECRET = 'whsec_c2lnbmluZy1zZWNyZXQtdGhhdC1tdXN0LW5vdC1iZS1sb2dnZWQ=';

/** Backend refusals keyed by a magic tenant name, so every RpcError mapping is reachable. */
export const FAILURES: Record<string, () => Error> = {
  'bad-name': () => new RpcError(Code.INVALID_ARGUMENT, 'invalid_tenant_name'),
  taken: () => new RpcError(Code.ALREADY_EXISTS, 'tenant_exists'),
  missing: () => new RpcError(Code.NOT_FOUND, 'tenant_not_found'),
  denied: () => new RpcError(Code.PERMISSION_DENIED, 'spiffe_id_not_allowed'),
  down: () => new RpcError(Code.UNAVAILABLE, 'connection refused 127.0.0.1:1'),
  deadline: () => new RpcError(Code.DEADLINE_EXCEEDED, 'deadline_exceeded'),
  boom: () => new Error('password=hunter2 in an internal detail'),
};

export function createTestBackend(calls: Array<{ method: string; req: unknown }> = []) {
  const record = (method: string, req: unknown) => {
    calls.push({ method, req });
    const tenant = (req as { tenant?: string; name?: string }).tenant ?? (req as { name?: string }).name;
    const fail = tenant === undefined ? undefined : FAILURES[tenant];
    if (fail) throw fail();
  };
  const backend: BackendClients = {
    tenants: {
      async createTenant(req) {
        record('createTenant', req);
        return create(CreateTenantResponseSchema, {
          tenant: {
            id: 'ten_newnewnewnewnewnewnewnewne',
            name: req.name ?? '',
            createdAt: timestampFromDate(T0),
          },
        });
      },
      async listTenants(req) {
        record('listTenants', req);
        return create(ListTenantsResponseSchema, { tenants: [ACME, GLOBEX] });
      },
    },
    sources: {
      async createSource(req) {
        record('createSource', req);
        return create(CreateSourceResponseSchema, {
          source: create(SourceSchema, {
            id: 'src_sourcesourcesourcesourceso',
            tenantId: ACME.id,
            provider: req.provider ?? '',
            name: req.name ?? '',
            generic: { header: 'x-signature', algorithm: 'sha256', encoding: 'hex', prefix: 'sha256=' },
            createdAt: timestampFromDate(T0),
          }),
        });
      },
      async listSources(req) {
        record('listSources', req);
        return create(ListSourcesResponseSchema, {
          sources: [create(SourceSchema, { id: 'src_1', tenantId: ACME.id, provider: 'github', name: 'gh' })],
        });
      },
      async rotateSourceSecret(req) {
        record('rotateSourceSecret', req);
        return {
          $typeName: 'zenmesh.v1.RotateSourceSecretResponse',
          source: create(SourceSchema, {
            id: req.sourceId ?? '',
            tenantId: ACME.id,
            provider: 'github',
            name: 'gh',
            previousSecretExpiresAt: timestampFromDate(new Date(T0.getTime() + 3_600_000)),
          }),
        };
      },
      async updateSource(req) {
        record('updateSource', req);
        return {
          $typeName: 'zenmesh.v1.UpdateSourceResponse',
          source: create(SourceSchema, {
            id: req.sourceId ?? '',
            tenantId: ACME.id,
            provider: 'stripe',
            name: 's',
            toleranceSeconds: req.toleranceSeconds ?? 0,
          }),
        };
      },
    },
    endpoints: {
      async createEndpoint(req) {
        record('createEndpoint', req);
        return create(CreateEndpointResponseSchema, {
          endpoint: create(EndpointSchema, {
            id: 'ep_1',
            tenantId: ACME.id,
            url: req.url ?? '',
            eventTypes: [...(req.eventTypes ?? [])],
            enabled: true,
            createdAt: timestampFromDate(T0),
          }),
          signingSecret: SIGNING_SECRET,
        });
      },
      async listEndpoints(req) {
        record('listEndpoints', req);
        return create(ListEndpointsResponseSchema, {
          endpoints: [
            create(EndpointSchema, { id: 'ep_1', tenantId: ACME.id, url: 'https://example.com/hook' }),
          ],
        });
      },
      async updateEndpoint(req) {
        record('updateEndpoint', req);
        return {
          $typeName: 'zenmesh.v1.UpdateEndpointResponse',
          endpoint: create(EndpointSchema, {
            id: req.endpointId ?? '',
            tenantId: ACME.id,
            url: 'https://example.com/hook',
            enabled: false,
            disabledReason: 'operator',
            disabledAt: timestampFromDate(T0),
            maxConcurrency: 5,
            cloudeventsMode: 'structured',
          }),
        };
      },
      async rotateEndpointSecret(req) {
        record('rotateEndpointSecret', req);
        return {
          $typeName: 'zenmesh.v1.RotateEndpointSecretResponse',
          endpoint: create(EndpointSchema, { id: req.endpointId ?? '', tenantId: ACME.id, enabled: true }),
          signingSecret: SIGNING_SECRET,
        };
      },
    },
    events: {
      async listEvents(req) {
        record('listEvents', req);
        return create(ListEventsResponseSchema, {
          events: [
            create(EventSchema, {
              id: 'evt_1',
              tenantId: ACME.id,
              sourceId: 'src_1',
              source: '/sources/src_1',
              type: 'push',
              time: timestampFromDate(T0),
              datacontenttype: 'application/json',
              data: new TextEncoder().encode('{"ref":"main"}'),
              providerDeliveryId: 'gh-123',
              receivedAt: timestampFromDate(new Date(T0.getTime() + 1500)),
            }),
          ],
        });
      },
    },
    deliveries: {
      async listDeliveries(req) {
        record('listDeliveries', req);
        return create(ListDeliveriesResponseSchema, {
          deliveries: [
            create(DeliverySchema, {
              id: 'dlv_1',
              tenantId: ACME.id,
              eventId: 'evt_1',
              endpointId: 'ep_1',
              state: DeliveryState.RETRYING,
              attempts: 2,
              nextAttemptAt: timestampFromDate(new Date(T0.getTime() + 60_000)),
              lastStatusCode: 503,
              lastError: 'HTTP 503',
              updatedAt: timestampFromDate(T0),
            }),
          ],
        });
      },
      async listAttempts(req) {
        record('listAttempts', req);
        return {
          $typeName: 'zenmesh.v1.ListAttemptsResponse',
          attempts: [
            create(AttemptSchema, {
              id: 'att_1',
              deliveryId: req.deliveryId ?? '',
              attempt: 1,
              statusCode: 503,
              error: 'HTTP 503',
              durationMs: 12,
              createdAt: timestampFromDate(T0),
            }),
          ],
        };
      },
      async replayDelivery(req) {
        record('replayDelivery', req);
        return {
          $typeName: 'zenmesh.v1.ReplayDeliveryResponse',
          delivery: create(DeliverySchema, {
            id: req.deliveryId ?? '',
            tenantId: ACME.id,
            state: DeliveryState.PENDING,
            replays: 1,
          }),
        };
      },
      async replayEndpoint(req) {
        record('replayEndpoint', req);
        return create(ReplayEndpointResponseSchema, { deliveryIds: ['dlv_1', 'dlv_2'] });
      },
      async replayEvent(req) {
        record('replayEvent', req);
        return create(ReplayEventResponseSchema, { deliveryIds: ['dlv_1'], skippedInFlight: ['dlv_3'] });
      },
    },
    audit: {
      async listAudit(req) {
        record('listAudit', req);
        return {
          $typeName: 'zenmesh.v1.ListAuditResponse',
          entries: [
            create(AuditEntrySchema, {
              id: 'aud_1',
              tenantId: ACME.id,
              seq: 3n,
              at: timestampFromDate(T0),
              actor: 'api_key:key_x',
              action: 'endpoint.update',
              target: 'endpoint/ep_1',
              beforeJson: '{"enabled":true}',
              afterJson: '{"enabled":false}',
              prevHash: 'a'.repeat(64),
              hash: 'b'.repeat(64),
            }),
          ],
        };
      },
      async verifyAudit(req) {
        record('verifyAudit', req);
        return {
          $typeName: 'zenmesh.v1.VerifyAuditResponse',
          ok: false,
          chains: [
            {
              $typeName: 'zenmesh.v1.AuditChainStatus',
              tenantId: ACME.id,
              tenantName: 'acme',
              rows: 1n,
              ok: false,
              brokenSeq: 2n,
              brokenId: 'aud_2',
              reason: 'hash_mismatch',
              checkpointSeq: 0n,
            },
            {
              $typeName: 'zenmesh.v1.AuditChainStatus',
              tenantId: GLOBEX.id,
              tenantName: 'globex',
              rows: 4n,
              ok: true,
              brokenSeq: 0n,
              brokenId: '',
              reason: '',
              checkpointSeq: 0n,
            },
          ],
        };
      },
    },
  };
  return { backend, calls };
}
