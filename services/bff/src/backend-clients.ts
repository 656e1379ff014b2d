import type { MessageInitShape } from '@bufbuild/protobuf';
import type {
  CreateEndpointRequestSchema,
  CreateEndpointResponse,
  CreateSourceRequestSchema,
  CreateSourceResponse,
  CreateTenantRequestSchema,
  CreateTenantResponse,
  ListDeliveriesRequestSchema,
  ListDeliveriesResponse,
  ListEndpointsRequestSchema,
  ListEndpointsResponse,
  ListEventsRequestSchema,
  ListEventsResponse,
  ListSourcesRequestSchema,
  ListSourcesResponse,
  ListTenantsRequestSchema,
  ListTenantsResponse,
} from '@zenmesh/proto';

/**
 * The backend methods the admin API calls: a structural slice of the @zenmesh/rpc clients, so the app can
 * be driven by the real mTLS clients in production and by small in-process implementations in tests.
 * Failures reject with an RpcError ({ code, reason }).
 */
export interface BackendClients {
  tenants: {
    createTenant(req: MessageInitShape<typeof CreateTenantRequestSchema>): Promise<CreateTenantResponse>;
    listTenants(req: MessageInitShape<typeof ListTenantsRequestSchema>): Promise<ListTenantsResponse>;
  };
  sources: {
    createSource(req: MessageInitShape<typeof CreateSourceRequestSchema>): Promise<CreateSourceResponse>;
    listSources(req: MessageInitShape<typeof ListSourcesRequestSchema>): Promise<ListSourcesResponse>;
  };
  endpoints: {
    createEndpoint(
      req: MessageInitShape<typeof CreateEndpointRequestSchema>,
    ): Promise<CreateEndpointResponse>;
    listEndpoints(req: MessageInitShape<typeof ListEndpointsRequestSchema>): Promise<ListEndpointsResponse>;
  };
  events: {
    listEvents(req: MessageInitShape<typeof ListEventsRequestSchema>): Promise<ListEventsResponse>;
  };
  deliveries: {
    listDeliveries(
      req: MessageInitShape<typeof ListDeliveriesRequestSchema>,
    ): Promise<ListDeliveriesResponse>;
  };
}
