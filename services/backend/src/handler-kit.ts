import type { ForwardedTokenAuthorizer } from '@zenmesh/auth';
import { type Db, isDbError } from '@zenmesh/db';
import { Code, RpcError } from '@zenmesh/rpc';
import type { EndpointHealthPolicy } from './endpoint-health.js';
import type { BackendErrorCode } from './errors.js';
import type { SecretBoxes } from './secrets.js';
import type { SignatureSpikePolicy } from './signature-failures.js';

export interface BackendDeps {
  db: Db;
  boxes: SecretBoxes;
  /** Injectable jitter source for the retry schedule (tests). */
  random?: () => number;
  /** When a failing endpoint is disabled; default 3 days and 10 failures in a row. */
  endpointHealth?: EndpointHealthPolicy;
  /** When a source's invalid signatures notify its tenant; default 20 within 5 minutes. */
  signatureSpike?: SignatureSpikePolicy | undefined;
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
  // Retention and the notification endpoint: what the tenant keeps and who hears about its operations.
  tenantSettings: ['admin'],
} as const satisfies Record<string, readonly string[]>;

// ERR_INTERNAL is left out on purpose: it propagates, and the server answers INTERNAL and logs the detail.
const STATUS: Record<Exclude<BackendErrorCode, 'ERR_INTERNAL'>, Code> = {
  ERR_INVALID_ARGUMENT: Code.INVALID_ARGUMENT,
  ERR_NOT_FOUND: Code.NOT_FOUND,
  ERR_ALREADY_EXISTS: Code.ALREADY_EXISTS,
  ERR_FAILED_PRECONDITION: Code.FAILED_PRECONDITION,
};

/** SQLSTATE class 08 (connection exception) and 57P01-57P03 (shutting down, cannot connect now). */
const DB_GONE_STATE = /^(08...|57P0[1-3])$/;
const DB_GONE_ERRNO = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT']);

/**
 * Postgres is down or restarting, or the connection to it broke (as a DbError of @zenmesh/db, or a raw
 * driver error): the caller should come back later.
 */
export function isDatabaseUnavailable(err: unknown): boolean {
  if (isDbError(err, 'ERR_CONNECTION')) return true;
  const e = err as { code?: unknown; message?: unknown } | undefined;
  const state = isDbError(err) ? err.sqlState : typeof e?.code === 'string' ? e.code : undefined;
  if (state !== undefined && (DB_GONE_STATE.test(state) || DB_GONE_ERRNO.has(state))) return true;
  return typeof e?.message === 'string' && /Connection terminated|connection timeout/i.test(e.message);
}

/**
 * Turns store refusals (BackendError) into gRPC statuses with their short reason, and a database that is
 * down or restarting into UNAVAILABLE `database_unavailable` (the ingester answers 503 with Retry-After, so
 * the provider retries); anything else propagates and the server answers INTERNAL, keeping the detail in its
 * log.
 */
export async function edge<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (isDatabaseUnavailable(err))
      throw new RpcError(Code.UNAVAILABLE, 'database_unavailable', { cause: err });
    // A deadlock or serialization failure rolled the transaction back: nothing was written, and trying again
    // succeeds, so the caller is told to come back (the ingester answers 503 + Retry-After, not 500).
    if (isDbError(err, 'ERR_SERIALIZATION'))
      throw new RpcError(Code.UNAVAILABLE, 'database_conflict', { cause: err });
    const e = err as { name?: unknown; code?: unknown; reason?: unknown };
    if (e?.name === 'BackendError' && typeof e.code === 'string' && typeof e.reason === 'string') {
      const status = STATUS[e.code as keyof typeof STATUS];
      if (status !== undefined) throw new RpcError(status, e.reason, { cause: err });
    }
    throw err;
  }
}
