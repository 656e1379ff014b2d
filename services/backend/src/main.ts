import { runService } from '@zenmesh/config';
import { loadMasterKey } from '@zenmesh/crypto';
import { createDatabase } from '@zenmesh/db';
import { createMeshServer, loadTlsIdentity } from '@zenmesh/rpc';
import { createBackend } from './backend.js';
import { loadBackendConfig } from './config.js';

runService('backend', async ({ logger }) => {
  const config = loadBackendConfig();
  const masterKey = loadMasterKey(config.ZENMESH_SECRETS_DIR);
  const identity = loadTlsIdentity({
    cert: config.ZENMESH_TLS_CERT,
    key: config.ZENMESH_TLS_KEY,
    ca: config.ZENMESH_TLS_CA,
  });
  const db = await createDatabase({
    ...(config.DATABASE_URL === undefined ? {} : { url: config.DATABASE_URL }),
    ...(config.ZENMESH_DATA_DIR === undefined ? {} : { dataDir: config.ZENMESH_DATA_DIR }),
    logger,
  });
  try {
    const backend = createBackend({ db, masterKey });
    const applied = await backend.migrate();
    logger.info({ applied }, 'migrations done');
    const server = createMeshServer({
      service: 'backend',
      identity,
      trustDomain: config.ZENMESH_TRUST_DOMAIN,
      namespace: config.ZENMESH_NAMESPACE,
      logger,
    });
    backend.register(server);
    const { address } = await server.listen(config.ZENMESH_GRPC_LISTEN);
    return {
      ready: { grpc: address },
      stop: async () => {
        await server.shutdown({ graceMs: 10_000 });
        await db.close();
      },
    };
  } catch (err) {
    await db.close();
    throw err;
  }
});
