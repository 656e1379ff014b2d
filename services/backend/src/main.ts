import {
  createAccessTokenVerifier,
  createForwardedTokenAuthorizer,
  createIntrospectionRevocationCheck,
} from '@zenmesh/auth';
import {
  hostPort,
  httpUrl,
  loadConfig,
  meshIdentityEnv,
  messageIntegrityEnv,
  runService,
  startMeshRuntime,
} from '@zenmesh/config';
import { loadMasterKey } from '@zenmesh/crypto';
import { createDatabase } from '@zenmesh/db';
import { TokenService } from '@zenmesh/proto';
import { createMeshChannel, createMeshServer, MESH_POLICY } from '@zenmesh/rpc';
import { createBackend } from './backend.js';
import { backendEnv } from './config.js';

// The backend variables with the identity ones (the workload agent provides the certificate, so
// ZENMESH_TLS_CERT/_KEY are optional here), plus where to check the users' forwarded tokens.
const env = backendEnv.extend({
  ...meshIdentityEnv,
  ...messageIntegrityEnv,
  // The token service: its gRPC address (TokenService.Introspect, for revocation) and its public base URL,
  // the `iss` of every access token and the home of the JWKS that verifies them.
  ZENMESH_TOKEN_ADDR: hostPort(),
  ZENMESH_TOKEN_ISSUER: httpUrl(),
  // Where this service fetches the issuer's keys when the issuer's public URL is not reachable from inside the
  // deployment (compose, Kubernetes); default `<issuer>/.well-known/jwks.json`.
  ZENMESH_TOKEN_JWKS_URL: httpUrl().optional(),
});

runService('backend', async ({ logger }) => {
  const config = loadConfig(env);
  const masterKey = loadMasterKey(config.ZENMESH_SECRETS_DIR);
  // Message integrity, then the workload agent (SVID from the CA, renewed at half-life, bundle + revocation
  // watches) whose per-call peer guard every server and channel of this process uses.
  const runtime = await startMeshRuntime('backend', config, logger);
  const { mesh } = runtime;
  const token = createMeshChannel({ ...mesh, address: config.ZENMESH_TOKEN_ADDR, peer: 'token' });
  const tokens = token.client(TokenService);
  // The user's token the bff forwards: verified from the issuer's JWKS, then checked for revocation.
  const userAuth = createForwardedTokenAuthorizer(
    createAccessTokenVerifier({
      issuer: config.ZENMESH_TOKEN_ISSUER,
      ...(config.ZENMESH_TOKEN_JWKS_URL === undefined ? {} : { jwksUri: config.ZENMESH_TOKEN_JWKS_URL }),
      audience: 'urn:zenmesh:api',
      isRevoked: createIntrospectionRevocationCheck({ introspect: (t) => tokens.introspect({ token: t }) }),
    }),
  );
  const db = await createDatabase({
    ...(config.DATABASE_URL === undefined ? {} : { url: config.DATABASE_URL }),
    ...(config.ZENMESH_DATA_DIR === undefined ? {} : { dataDir: config.ZENMESH_DATA_DIR }),
    logger,
  });
  const closeAll = async () => {
    await db.close();
    token.close();
    await runtime.close();
  };
  try {
    const backend = createBackend({ db, masterKey, userAuth });
    const applied = await backend.migrate();
    logger.info({ applied }, 'migrations done');
    const server = createMeshServer({
      ...mesh,
      service: 'backend',
      logger,
      policy: MESH_POLICY,
    });
    backend.register(server);
    const { address } = await server.listen(config.ZENMESH_GRPC_LISTEN);
    runtime.setServingAddress(address);
    return {
      ready: { grpc: address },
      stop: async () => {
        await server.shutdown({ graceMs: 10_000 });
        await closeAll();
      },
    };
  } catch (err) {
    await closeAll();
    throw err;
  }
});
