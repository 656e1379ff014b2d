import { timestampDate } from '@bufbuild/protobuf/wkt';
import {
  createAccessTokenVerifier,
  createForwardedTokenAuthorizer,
  createIntrospectionRevocationCheck,
} from '@zenmesh/auth';
import { openSecretBoxes } from '@zenmesh/crypto';
import { createDatabase } from '@zenmesh/db';
import { CaService, TokenService } from '@zenmesh/proto';
import { MESH_POLICY } from '@zenmesh/rpc';
import { runService, startMeshRuntime } from '@zenmesh/runtime';
import { checkAutovacuum } from './autovacuum-check.js';
import { createBackend } from './backend.js';
import { backendEnv } from './config.js';
import { observeDeliveryQueue } from './queue-metrics.js';
import { createRetentionJob } from './retention-job.js';
import { createRotationWatch } from './rotation-watch.js';

runService('backend', backendEnv, async ({ env, logger, meter, defer }) => {
  // Its own sealing keys (sealing-keys.json), or the master key where a deployment still gives one.
  const masterKey = openSecretBoxes(env.ZENMESH_SECRETS_DIR);
  const runtime = await startMeshRuntime('backend', env, logger, meter);
  defer(() => runtime.close());
  const token = runtime.channel('token', env.ZENMESH_TOKEN_ADDR);
  defer(() => token.close());
  const tokens = token.client(TokenService);
  // The user's token the bff forwards: verified from the issuer's JWKS, then checked for revocation.
  const userAuth = createForwardedTokenAuthorizer(
    createAccessTokenVerifier({
      issuer: env.ZENMESH_TOKEN_ISSUER,
      ...(env.ZENMESH_TOKEN_JWKS_URL === undefined ? {} : { jwksUri: env.ZENMESH_TOKEN_JWKS_URL }),
      audience: 'urn:zenmesh:api',
      isRevoked: createIntrospectionRevocationCheck({ introspect: (t) => tokens.introspect({ token: t }) }),
    }),
  );
  const db = await createDatabase({
    ...(env.DATABASE_URL === undefined ? {} : { url: env.DATABASE_URL }),
    ...(env.ZENMESH_DATA_DIR === undefined ? {} : { dataDir: env.ZENMESH_DATA_DIR }),
    logger,
  });
  defer(() => db.close());
  const backend = createBackend({
    db,
    masterKey,
    userAuth,
    signatureSpike: {
      threshold: env.ZENMESH_SIGNATURE_SPIKE_THRESHOLD,
      windowS: env.ZENMESH_SIGNATURE_SPIKE_WINDOW_S,
    },
  });
  logger.info({ applied: await backend.migrate() }, 'migrations done');
  await checkAutovacuum(db, logger);
  observeDeliveryQueue(meter, db, logger);
  const retention = createRetentionJob({
    db,
    intervalMs: env.ZENMESH_RETENTION_INTERVAL_MS,
    batchSize: env.ZENMESH_RETENTION_BATCH,
    logger,
  });
  retention.start();
  defer(() => retention.stop());
  // A CA rollback is announced to the tenants (docs/notifications.md); without a CA (PEM files) there is none.
  if (env.ZENMESH_CA_ADDR !== undefined) {
    const ca = runtime.channel('ca', env.ZENMESH_CA_ADDR);
    defer(() => ca.close());
    const caClient = ca.client(CaService);
    const rotations = createRotationWatch({
      db,
      intervalMs: env.ZENMESH_CA_POLL_INTERVAL_MS,
      logger,
      lastRotation: async () => {
        const { rotation: r } = await caClient.lastRotation({});
        return r === undefined
          ? undefined
          : {
              id: r.id,
              phase: r.phase,
              error: r.error,
              updatedAt: r.updatedAt === undefined ? new Date(0) : timestampDate(r.updatedAt),
            };
      },
    });
    rotations.start();
    defer(() => rotations.stop());
  }
  const server = runtime.server({ logger, policy: MESH_POLICY });
  backend.register(server);
  const { address } = await server.listen(env.ZENMESH_GRPC_LISTEN);
  defer(() => server.shutdown({ graceMs: 10_000 }));
  runtime.setServingAddress(address);
  return { grpc: address };
});
