import type { ForwardedTokenAuthorizer } from '@zenmesh/auth';
import type { SecretBox } from '@zenmesh/crypto';
import type { Db } from '@zenmesh/db';
import { migrate } from '@zenmesh/db';
import type { MeshServer } from '@zenmesh/rpc';
import { APP_ROLE } from './db-roles.js';
import type { EndpointHealthPolicy } from './endpoint-health.js';
import { registerBackend } from './handlers.js';
import { CORE_MIGRATION_SCOPE, CORE_MIGRATIONS } from './migrations.js';
import { createSecretBoxes } from './secrets.js';
import type { SignatureSpikePolicy } from './signature-failures.js';

export interface BackendOptions {
  db: Db;
  /**
   * Where the sealing keys of source and endpoint secrets come from: 32 bytes of master key (tests), or the
   * opener of the service's sealing-keys.json (`openSecretBoxes(ZENMESH_SECRETS_DIR)`, main.ts).
   */
  masterKey: Uint8Array | ((purpose: string) => SecretBox);
  random?: () => number;
  /** When a failing endpoint is disabled; default 3 days and 10 failures in a row. */
  endpointHealth?: EndpointHealthPolicy;
  /** When a source's invalid signatures notify its tenant; default 20 within 5 minutes. */
  signatureSpike?: SignatureSpikePolicy;
  /**
   * Verifies the user token the bff forwards, first thing in every handler the bff calls
   * (createForwardedTokenAuthorizer from @zenmesh/auth). main.ts always sets it; leaving it out (tests,
   * in-process use) leaves those handlers to the workload policy alone.
   */
  userAuth?: ForwardedTokenAuthorizer;
}

export interface Backend {
  /**
   * Applies the `core` migrations not yet applied (as the connecting role, which must be able to own
   * schema `core`), then switches `db` to the application role `zenmesh_app` for good: no superuser,
   * no BYPASSRLS, so row-level security binds every statement the backend runs after this.
   * Returns the ids applied.
   */
  migrate(): Promise<string[]>;
  /** Registers TenantService, SourceService, EndpointService, EventService and DeliveryService. */
  register(server: Pick<MeshServer, 'register'>): void;
}

export function createBackend(options: BackendOptions): Backend {
  if (typeof options.masterKey !== 'function' && options.masterKey.byteLength !== 32)
    throw new TypeError('createBackend: masterKey must be 32 bytes');
  const boxes = createSecretBoxes(options.masterKey);
  return {
    migrate: async () => {
      if (options.db.role === APP_ROLE) return [];
      const applied = await migrate(options.db, CORE_MIGRATIONS, { scope: CORE_MIGRATION_SCOPE });
      await options.db.assumeRole(APP_ROLE);
      return applied;
    },
    register: (server) =>
      registerBackend(server, {
        db: options.db,
        boxes,
        ...(options.random === undefined ? {} : { random: options.random }),
        ...(options.endpointHealth === undefined ? {} : { endpointHealth: options.endpointHealth }),
        ...(options.userAuth === undefined ? {} : { userAuth: options.userAuth }),
        ...(options.signatureSpike === undefined ? {} : { signatureSpike: options.signatureSpike }),
      }),
  };
}
