import type { ForwardedTokenAuthorizer } from '@zenmesh/auth';
import type { Db } from '@zenmesh/db';
import { Code, RpcError } from '@zenmesh/rpc';
import type { EndpointHealthPolicy } from './endpoint-health.js';
import type { BackendErrorCode } from './errors.js';
import type { SecretBoxes } from './secrets.js';

export interface BackendDeps {
  db: Db;
  boxes: SecretBoxes;
  /** Injectable jitter source for the retry schedule (tests). */
  random?: () => number;
  /** When a failing endpoint is disabled; default 3 days and 10 failures in a row. */
  endpointHealth?: EndpointHealthPolicy;
  /**
   * Verifies the user's access token the bff forwards (`authorization` metadata) with the scopes of each
   * handler it calls. The service always sets it (main.ts); without it those handlers trust the workload
   * policy alone, which only tests and in-process embedding may rely on.
   */
  userAuth?: ForwardedTokenAuthorizer | undefined;
}

/** Scopes per user-facing RPC (the bff's /api/v1 routes require the same ones; README "Authorization"). */
export const RPC_SCOPES = {
  createTenant: ['admin'],
  listTenants: ['admin'],
  createSource: ['sources:write'],
  listSources: ['sources:read'],
  rotateSourceSecret: ['sources:write'],
  updateSource: ['sources:write'],
  createEndpoint: ['endpoints:write'],
  listEndpoints: ['endpoints:read'],
  updateEndpoint: ['endpoints:write'],
  rotateEndpointSecret: ['endpoints:write'],
  // Connections decide where events go: the endpoint scopes.
  createConnection: ['endpoints:write'],
  listConnections: ['endpoints:read'],
  updateConnection: ['endpoints:write'],
  listEvents: ['events:read'],
  listDeliveries: ['events:read'],
  listAttempts: ['events:read'],
  replay: ['replay:write'],
  audit: ['admin'],
} as const satisfies Record<string, readonly string[]>;

// ERR_INTERNAL is left out on purpose: it propagates, and the server answers INTERNAL and logs the detail.
const STATUS: Record<Exclude<BackendErrorCode, 'ERR_INTERNAL'>, Code> = {
  ERR_INVALID_ARGUMENT: Code.INVALID_ARGUMENT,
  ERR_NOT_FOUND: Code.NOT_FOUND,
  ERR_ALREADY_EXISTS: Code.ALREADY_EXISTS,
  ERR_FAILED_PRECONDITION: Code.FAILED_PRECONDITION,
};

/**
 * Turns store refusals (BackendError) into gRPC statuses with their short reason; anything else
 * propagates and the server answers INTERNAL, keeping the detail in its log.
 */
export async function edge<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    const e = err as { name?: unknown; code?: unknown; reason?: unknown };
    if (e?.name === 'BackendError' && typeof e.code === 'string' && typeof e.reason === 'string') {
      const status = STATUS[e.code as keyof typeof STATUS];
      if (status !== undefined) throw new RpcError(status, e.reason, { cause: err });
    }
    throw err;
  }
}
