import { createDatabase, type Db, migrate } from '@zenmesh/db';
import { TokenService } from '@zenmesh/proto';
import { createMeshServer, MESH_POLICY, type MeshTransport, type PolicyTable } from '@zenmesh/rpc';
import type { Logger, Meter } from '@zenmesh/telemetry';
import { type ApiKeyStore, createApiKeyStore } from './api-key-store.js';
import { createTokenHttpServer } from './http-server.js';
import { TOKEN_MIGRATIONS, TOKEN_SCHEMA } from './migrations.js';
import { createOAuthServer, type OAuthConfig, type OAuthServer } from './oauth-server.js';
import { createTokenServiceImpl } from './token-grpc.js';

/** The mesh transport (identity, integrity, peer guard) of the gRPC server, and the service's own settings. */
export interface TokenServiceOptions extends MeshTransport {
  logger: Logger;
  /** host:port for gRPC; port 0 picks a free one. */
  grpcListen: string;
  /** host:port for HTTP; port 0 picks a free one. */
  httpListen: string;
  /** Shared Postgres (schema `token`) when set; otherwise an embedded PGlite in `dataDir`. */
  databaseUrl?: string | undefined;
  dataDir?: string | undefined;
  /** Hex SHA-256 of the launcher-generated admin key; only the hash ever reaches this process. */
  bootstrapAdminKeySha256?: string | undefined;
  /**
   * The OAuth 2.0 / OIDC server. Needs the secrets directory (master key, signing keys). `issuer` defaults to
   * the HTTP URL this service binds. Without it the service does API keys only, as before.
   */
  oauth?: (Omit<OAuthConfig, 'issuer'> & { issuer?: string | undefined }) | undefined;
  /** Defaults to MESH_POLICY. */
  policy?: PolicyTable;
  /** Where the gRPC server's refusal counter is recorded. */
  meter?: Meter;
}

export interface RunningTokenService {
  ready: { grpc: string; http: string };
  store: ApiKeyStore;
  db: Db;
  /** Present when `oauth` was configured. */
  oauth: OAuthServer | undefined;
  stop(): Promise<void>;
}

/** Opens the database, migrates schema `token`, and seeds the bootstrap admin key when one is configured. */
export async function openTokenStore(options: {
  db: Db;
  logger: Logger;
  bootstrapAdminKeySha256?: string | undefined;
}): Promise<ApiKeyStore> {
  const { db, logger } = options;
  await migrate(db, TOKEN_MIGRATIONS, { scope: TOKEN_SCHEMA, logger });
  const store = createApiKeyStore({ db });
  if (options.bootstrapAdminKeySha256 !== undefined) {
    const created = await store.ensureBootstrapAdmin(options.bootstrapAdminKeySha256);
    logger.info(
      { created },
      created ? 'bootstrap admin key registered' : 'bootstrap admin key already present',
    );
  }
  return store;
}

export async function startTokenService(options: TokenServiceOptions): Promise<RunningTokenService> {
  const { logger } = options;
  const db = await createDatabase({
    ...(options.databaseUrl === undefined ? {} : { url: options.databaseUrl }),
    ...(options.dataDir === undefined ? {} : { dataDir: options.dataDir }),
    logger,
  });
  const cleanup: Array<() => Promise<void>> = [() => db.close()];
  const stop = async () => {
    for (const step of cleanup.reverse()) await step();
  };
  try {
    const store = await openTokenStore({
      db,
      logger,
      bootstrapAdminKeySha256: options.bootstrapAdminKeySha256,
    });

    const http = createTokenHttpServer({ db, logger });
    const url = await http.listen(options.httpListen);
    cleanup.push(() => http.close());
    let oauth: OAuthServer | undefined;
    if (options.oauth !== undefined) {
      oauth = await createOAuthServer(db, logger, { ...options.oauth, issuer: options.oauth.issuer ?? url });
      http.mount(oauth.router);
    }

    const grpc = createMeshServer({
      service: 'token',
      identity: options.identity,
      trustDomain: options.trustDomain,
      namespace: options.namespace,
      integrity: options.integrity,
      verifyPeer: options.verifyPeer,
      maxConnectionAgeMs: options.maxConnectionAgeMs,
      ...(options.meter === undefined ? {} : { meter: options.meter }),
      logger,
      policy: options.policy ?? MESH_POLICY,
    });
    grpc.register(
      TokenService,
      createTokenServiceImpl(
        store,
        oauth === undefined
          ? undefined
          : {
              issuer: oauth.issuer,
              audience: oauth.audience,
              tokens: oauth.tokens,
              sessions: oauth.sessions,
              keys: oauth.keys,
              users: oauth.users,
              clients: oauth.clients,
              db,
              links: oauth.links,
              accountAudit: oauth.accountAudit,
              backoff: oauth.backoff,
              exchangeTtlSec: oauth.exchangeTtlSec,
            },
      ),
    );
    const { address } = await grpc.listen(options.grpcListen);
    cleanup.push(() => grpc.shutdown({ graceMs: 10_000 }));

    return { ready: { grpc: address, http: url }, store, db, oauth, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
