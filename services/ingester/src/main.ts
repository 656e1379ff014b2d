import { hostPort, loadConfig, meshEnv, positiveInt, runService, z } from '@zenmesh/config';
import { EgressService, EventService, Health, SourceService } from '@zenmesh/proto';
import { createMeshChannel, loadTlsIdentity } from '@zenmesh/rpc';
import { createIngester } from './ingester-app.js';
import { createPeerHealth } from './peer-health.js';

const env = z.object({
  ...meshEnv,
  ZENMESH_HTTP_LISTEN: hostPort().default('127.0.0.1:8080'),
  ZENMESH_BACKEND_ADDR: hostPort(),
  ZENMESH_EGRESS_ADDR: hostPort(),
  ZENMESH_INGEST_MAX_BODY: positiveInt(1024 * 1024),
});

runService('ingester', async ({ logger }) => {
  const config = loadConfig(env);
  const identity = loadTlsIdentity({
    cert: config.ZENMESH_TLS_CERT,
    key: config.ZENMESH_TLS_KEY,
    ca: config.ZENMESH_TLS_CA,
  });
  const mesh = { identity, trustDomain: config.ZENMESH_TRUST_DOMAIN, namespace: config.ZENMESH_NAMESPACE };
  const backend = createMeshChannel({ ...mesh, address: config.ZENMESH_BACKEND_ADDR, peer: 'backend' });
  const egress = createMeshChannel({ ...mesh, address: config.ZENMESH_EGRESS_ADDR, peer: 'egress' });
  const ingester = createIngester({
    sources: backend.client(SourceService),
    events: backend.client(EventService),
    egress: egress.client(EgressService),
    logger,
    maxBodyBytes: config.ZENMESH_INGEST_MAX_BODY,
    health: createPeerHealth([backend.client(Health), egress.client(Health)]),
  });
  const url = await ingester.listen(config.ZENMESH_HTTP_LISTEN);
  return {
    ready: { http: url },
    async stop() {
      await ingester.close();
      backend.close();
      egress.close();
    },
  };
});
