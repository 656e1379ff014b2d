// The one fixture for tests that need real parts of the mesh side by side: a scratch database on the real
// Postgres, a CA issuing real SVIDs, the backend over mutual TLS, the token service. Everything it starts is
// stopped, newest first, by `stop()`.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ForwardedTokenAuthorizer } from '@zenmesh/auth';
import { createBackend } from '@zenmesh/backend';
import { type BackendClients, createBffApp, createTokenAuth } from '@zenmesh/bff';
import { createDatabase, createScratchDatabase, type Db, type ScratchDatabase } from '@zenmesh/db';
import {
  type CertificateAuthority,
  createCertificateAuthority,
  issueSvidWithKey,
  spiffeIdFor,
} from '@zenmesh/pki';
import { TokenService } from '@zenmesh/proto';
import {
  createMeshChannel,
  createMeshServer,
  MESH_POLICY,
  type MeshChannel,
  type MeshServer,
  type TlsIdentity,
} from '@zenmesh/rpc';
import { createCleanupStack } from '@zenmesh/runtime';
import { createLogger, type Logger } from '@zenmesh/telemetry';
import { type RunningTokenService, startTokenService, type TokenServiceOptions } from '@zenmesh/token';

export const TD = { trustDomain: 'zenmesh.local', namespace: 'zenmesh' } as const;
const ADMIN_URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

export interface BackendUnderTest {
  address: string;
  /** The backend's own connection (switched to the application role after migrating). */
  db: Db;
  /** Its scratch database, for a second connection that reaches behind the backend. */
  url: string;
  server: MeshServer;
}

export interface MeshFixture {
  readonly ca: CertificateAuthority;
  /** Holds a fresh master.key (and whatever the token service keeps there). */
  readonly secretsDir: string;
  readonly logger: Logger;
  /** A real SVID for `sa/<service>` from the fixture's CA, with the CA as bundle. */
  identity(service: string): Promise<TlsIdentity>;
  /** A scratch database on the real Postgres, dropped at `stop()`. */
  database(prefix?: string): Promise<ScratchDatabase>;
  /** An mTLS channel as `sa/<as>` to the server `sa/<peer>` at `address` (message integrity off). */
  channel(as: string, peer: string, address: string): Promise<MeshChannel>;
  /** The token service on its own scratch database, with OAuth (`oauth` options merged in). */
  startToken(options?: {
    oauth?: Partial<NonNullable<TokenServiceOptions['oauth']>>;
    bootstrapAdminKeySha256?: string;
  }): Promise<RunningTokenService>;
  /**
   * The backend on its own scratch database, migrated and served over mTLS. `only` registers just those
   * services (by type name); `userAuth` checks forwarded user tokens as main.ts wires it.
   */
  startBackend(options?: {
    userAuth?: ForwardedTokenAuthorizer;
    masterKey?: Uint8Array;
    only?: readonly string[];
  }): Promise<BackendUnderTest>;
  /**
   * The bff's HTTP app in front of `token` (as `sa/bff` over mTLS; no answer caching), with `backend` as its
   * backend clients (default: none, for the account routes). Resolves with its base URL.
   */
  startBff(token: RunningTokenService, backend?: BackendClients): Promise<string>;
  /** Registers one more step for `stop()`. */
  defer(step: () => void | Promise<void>): void;
  stop(): Promise<void>;
}

export async function createMeshFixture(
  name: string,
  options: { logger?: Logger } = {},
): Promise<MeshFixture> {
  const logger = options.logger ?? createLogger(name, { level: 'silent' });
  const cleanup = createCleanupStack();
  const secretsDir = mkdtempSync(join(tmpdir(), `zm-${name}-`));
  writeFileSync(join(secretsDir, 'master.key'), randomBytes(32).toString('base64'), { mode: 0o600 });
  cleanup.defer(() => rmSync(secretsDir, { recursive: true, force: true }));
  const ca = await createCertificateAuthority({ trustDomain: TD.trustDomain });
  const dbPrefix = `zm_test_${name.replace(/[^a-z0-9]/gi, '_').toLowerCase()}`;

  const identity = async (service: string): Promise<TlsIdentity> => {
    const svid = await issueSvidWithKey({ ca, spiffeId: spiffeIdFor(service, TD) });
    return { cert: svid.certPem, key: svid.keyPem, ca: ca.certPem };
  };
  const database = async (prefix = dbPrefix) => {
    const scratch = await createScratchDatabase(ADMIN_URL, prefix);
    cleanup.defer(() => scratch.drop());
    return scratch;
  };
  const channel = async (as: string, peer: string, address: string) => {
    const ch = createMeshChannel({ ...TD, integrity: false, address, identity: await identity(as), peer });
    cleanup.defer(() => ch.close());
    return ch;
  };

  return {
    ca,
    secretsDir,
    logger,
    identity,
    database,
    channel,
    async startToken(o = {}) {
      const scratch = await database(`${dbPrefix}_token`);
      const token = await startTokenService({
        ...TD,
        integrity: false,
        logger,
        identity: await identity('token'),
        grpcListen: '127.0.0.1:0',
        httpListen: '127.0.0.1:0',
        databaseUrl: scratch.url,
        ...(o.bootstrapAdminKeySha256 ? { bootstrapAdminKeySha256: o.bootstrapAdminKeySha256 } : {}),
        oauth: { secretsDir, ...o.oauth },
      });
      cleanup.defer(() => token.stop());
      return token;
    },
    async startBackend(o = {}) {
      const scratch = await database(`${dbPrefix}_backend`);
      const db = await createDatabase({ url: scratch.url });
      cleanup.defer(() => db.close());
      const backend = createBackend({
        db,
        masterKey: o.masterKey ?? randomBytes(32),
        ...(o.userAuth ? { userAuth: o.userAuth } : {}),
      });
      await backend.migrate();
      const server = createMeshServer({
        ...TD,
        integrity: false,
        service: 'backend',
        identity: await identity('backend'),
        logger,
        policy: MESH_POLICY,
      });
      const only = o.only;
      backend.register(
        only === undefined
          ? server
          : {
              register: (service, impl) => {
                if (only.includes(service.typeName)) server.register(service, impl);
              },
            },
      );
      const { address } = await server.listen('127.0.0.1:0');
      cleanup.defer(() => server.shutdown({ graceMs: 1000 }));
      return { address, db, url: scratch.url, server };
    },
    async startBff(token, backend = {} as BackendClients) {
      const ch = await channel('bff', 'token', token.ready.grpc);
      const app = createBffApp({
        logger,
        backend,
        ...createTokenAuth(ch.client(TokenService), {
          issuer: token.oauth?.issuer ?? '',
          revocationCacheMs: 0,
        }),
        authCacheTtlMs: 0,
      });
      const base = await app.listen('127.0.0.1:0');
      cleanup.defer(() => app.close());
      return base;
    },
    defer: cleanup.defer,
    async stop() {
      const errors: unknown[] = [];
      await cleanup.run((err) => errors.push(err));
      if (errors.length > 0) throw errors[0];
    },
  };
}

/** Calls the bff's /api/v1 at `base()` with a bearer credential; answers status and JSON body. */
export const bffApi =
  (base: () => string) => async (method: string, path: string, credential: string, body?: unknown) => {
    const res = await fetch(`${base()}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${credential}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };

/**
 * A `client_credentials` access token from `token` for a fresh confidential client with `scopes` (bound to
 * `tenantId`, or cluster-wide with null), asking for `scope` when given; the token endpoint's JSON answer.
 */
export async function clientCredentials(
  token: RunningTokenService,
  scopes: string[],
  tenantId: string | null,
  scope?: string,
): Promise<{
  body: { access_token: string } & Record<string, unknown>;
  clientId: string;
  clientSecret: string;
}> {
  const oauth = token.oauth;
  if (oauth === undefined) throw new TypeError('clientCredentials: the token service has no OAuth server');
  const { client, clientSecret } = await oauth.clients.create({
    name: 'svc',
    authMethod: 'client_secret_post',
    grantTypes: ['client_credentials'],
    scopes,
    tenantId,
  });
  const res = await fetch(`${oauth.issuer}/oauth/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      grant_type: 'client_credentials',
      client_id: client.id,
      client_secret: clientSecret ?? '',
      ...(scope ? { scope } : {}),
    }),
  });
  return {
    body: (await res.json()) as { access_token: string } & Record<string, unknown>,
    clientId: client.id,
    clientSecret: clientSecret ?? '',
  };
}
