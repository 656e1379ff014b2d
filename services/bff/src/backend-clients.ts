import type { MessageInitShape } from '@bufbuild/protobuf';
import type {
  CreateConnectionRequestSchema,
  CreateConnectionResponse,
  CreateEndpointRequestSchema,
  CreateEndpointResponse,
  CreateSourceRequestSchema,
  CreateSourceResponse,
  CreateTenantRequestSchema,
  CreateTenantResponse,
  DeleteConnectionRequestSchema,
  DeleteConnectionResponse,
  GetTenantSettingsRequestSchema,
  GetTenantSettingsResponse,
  ListAttemptsRequestSchema,
  ListAttemptsResponse,
  ListAuditRequestSchema,
  ListAuditResponse,
  ListConnectionsRequestSchema,
  ListConnectionsResponse,
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
  ReplayDeliveryRequestSchema,
  ReplayDeliveryResponse,
  ReplayEndpointRequestSchema,
  ReplayEndpointResponse,
  ReplayEventRequestSchema,
  ReplayEventResponse,
  RotateEndpointSecretRequestSchema,
  RotateEndpointSecretResponse,
  RotateSourceSecretRequestSchema,
  RotateSourceSecretResponse,
  UpdateConnectionRequestSchema,
  UpdateConnectionResponse,
  UpdateEndpointRequestSchema,
  UpdateEndpointResponse,
  UpdateSourceRequestSchema,
  UpdateSourceResponse,
  UpdateTenantSettingsRequestSchema,
  UpdateTenantSettingsResponse,
  VerifyAuditRequestSchema,
  VerifyAuditResponse,
} from '@zenmesh/proto';
import type { CallOptions } from '@zenmesh/rpc';

/**
 * The backend methods the admin API calls: a structural slice of the @zenmesh/rpc clients, so the app can
 * be driven by the real mTLS clients in production and by small in-process implementations in tests.
 * Failures reject with an RpcError ({ code, reason }). `options.metadata` carries the caller's forwarded
 * access token (`authorization`), which the backend verifies with @zenmesh/auth.
 */
export interface BackendClients {
  tenants: {
    createTenant(
      req: MessageInitShape<typeof CreateTenantRequestSchema>,
      options?: CallOptions,
    ): Promise<CreateTenantResponse>;
    listTenants(
      req: MessageInitShape<typeof ListTenantsRequestSchema>,
      options?: CallOptions,
    ): Promise<ListTenantsResponse>;
  };
  sources: {
    createSource(
      req: MessageInitShape<typeof CreateSourceRequestSchema>,
      options?: CallOptions,
    ): Promise<CreateSourceResponse>;
    listSources(
      req: MessageInitShape<typeof ListSourcesRequestSchema>,
      options?: CallOptions,
    ): Promise<ListSourcesResponse>;
    rotateSourceSecret(
      req: MessageInitShape<typeof RotateSourceSecretRequestSchema>,
      options?: CallOptions,
    ): Promise<RotateSourceSecretResponse>;
    updateSource(
      req: MessageInitShape<typeof UpdateSourceRequestSchema>,
      options?: CallOptions,
    ): Promise<UpdateSourceResponse>;
  };
  endpoints: {
    createEndpoint(
      req: MessageInitShape<typeof CreateEndpointRequestSchema>,
      options?: CallOptions,
    ): Promise<CreateEndpointResponse>;
    listEndpoints(
      req: MessageInitShape<typeof ListEndpointsRequestSchema>,
      options?: CallOptions,
    ): Promise<ListEndpointsResponse>;
    updateEndpoint(
      req: MessageInitShape<typeof UpdateEndpointRequestSchema>,
      options?: CallOptions,
    ): Promise<UpdateEndpointResponse>;
    rotateEndpointSecret(
      req: MessageInitShape<typeof RotateEndpointSecretRequestSchema>,
      options?: CallOptions,
    ): Promise<RotateEndpointSecretResponse>;
  };
  events: {
    listEvents(
      req: MessageInitShape<typeof ListEventsRequestSchema>,
      options?: CallOptions,
    ): Promise<ListEventsResponse>;
  };
  deliveries: {
    listDeliveries(
      req: MessageInitShape<typeof ListDeliveriesRequestSchema>,
      options?: CallOptions,
    ): Promise<ListDeliveriesResponse>;
    listAttempts(
      req: MessageInitShape<typeof ListAttemptsRequestSchema>,
      options?: CallOptions,
    ): Promise<ListAttemptsResponse>;
    replayDelivery(
      req: MessageInitShape<typeof ReplayDeliveryRequestSchema>,
      options?: CallOptions,
    ): Promise<ReplayDeliveryResponse>;
    replayEndpoint(
      req: MessageInitShape<typeof ReplayEndpointRequestSchema>,
      options?: CallOptions,
    ): Promise<ReplayEndpointResponse>;
    replayEvent(
      req: MessageInitShape<typeof ReplayEventRequestSchema>,
      options?: CallOptions,
    ): Promise<ReplayEventResponse>;
  };
  /** AuditService; without it the audit routes answer 404 (main.ts passes `backend.client(AuditService)`). */
  audit?: AuditClient | undefined;
  /** ConnectionService; without it the connection routes answer 404 (connection-routes.ts). */
  connections?: ConnectionClient | undefined;
  /** TenantService's settings methods; without them the settings routes answer 404 (settings-routes.ts). */
  settings?: TenantSettingsClient | undefined;
}

export interface ConnectionClient {
  createConnection(
    req: MessageInitShape<typeof CreateConnectionRequestSchema>,
    options?: CallOptions,
  ): Promise<CreateConnectionResponse>;
  listConnections(
    req: MessageInitShape<typeof ListConnectionsRequestSchema>,
    options?: CallOptions,
  ): Promise<ListConnectionsResponse>;
  updateConnection(
    req: MessageInitShape<typeof UpdateConnectionRequestSchema>,
    options?: CallOptions,
  ): Promise<UpdateConnectionResponse>;
  deleteConnection(
    req: MessageInitShape<typeof DeleteConnectionRequestSchema>,
    options?: CallOptions,
  ): Promise<DeleteConnectionResponse>;
}

export interface AuditClient {
  listAudit(
    req: MessageInitShape<typeof ListAuditRequestSchema>,
    options?: CallOptions,
  ): Promise<ListAuditResponse>;
  verifyAudit(
    req: MessageInitShape<typeof VerifyAuditRequestSchema>,
    options?: CallOptions,
  ): Promise<VerifyAuditResponse>;
}

/** TenantService's settings methods (retention, notification endpoint): a structural slice of the rpc client. */
export interface TenantSettingsClient {
  getTenantSettings(
    req: MessageInitShape<typeof GetTenantSettingsRequestSchema>,
    options?: CallOptions,
  ): Promise<GetTenantSettingsResponse>;
  updateTenantSettings(
    req: MessageInitShape<typeof UpdateTenantSettingsRequestSchema>,
    options?: CallOptions,
  ): Promise<UpdateTenantSettingsResponse>;
}
