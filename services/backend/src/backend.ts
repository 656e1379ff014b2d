import type { Db } from '@zenmesh/db';
import { migrate } from '@zenmesh/db';
import type { MeshServer } from '@zenmesh/rpc';
import { registerBackend } from './handlers.js';
import { CORE_MIGRATION_SCOPE, CORE_MIGRATIONS } from './migrations.js';
import { createSecretBoxes } from './secrets.js';

export interface BackendOptions {
  db: Db;
  /** 32 bytes (ZENMESH_SECRETS_DIR/master.key); sealed source and endpoint secrets derive from it. */
  masterKey: Uint8Array;
  random?: () => number;
}

export interface Backend {
  /** Applies the `core` migrations not yet applied; returns their ids. */
  migrate(): Promise<string[]>;
  /** Registers TenantService, SourceService, EndpointService, EventService and DeliveryService. */
  register(server: Pick<MeshServer, 'register'>): void;
}

export function createBackend(options: BackendOptions): Backend {
  if (options.masterKey.byteLength !== 32) throw new TypeError('createBackend: masterKey must be 32 bytes');
  const boxes = createSecretBoxes(options.masterKey);
  return {
    migrate: () => migrate(options.db, CORE_MIGRATIONS, { scope: CORE_MIGRATION_SCOPE }),
    register: (server) =>
      registerBackend(server, {
        db: options.db,
        boxes,
        ...(options.random === undefined ? {} : { random: options.random }),
      }),
  };
}
