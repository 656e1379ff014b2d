import { readFileSync } from 'node:fs';
import {
  loadConfig,
  meshIdentityEnv,
  messageIntegrityEnv,
  runService,
  startMeshIdentity,
} from '@zenmesh/config';
import { DeliveryService, EgressService } from '@zenmesh/proto';
import {
  createMeshChannel,
  createMeshServer,
  createMessageIntegrity,
  useMeshDefaults,
  useMessageIntegrity,
} from '@zenmesh/rpc';
import { egressEnv } from './config.js';
import { createDeliveryEngine } from './delivery-engine.js';
import { createEgressService } from './egress-service.js';

// The egress variables (SSRF allow-list, extra target roots) with the identity ones: the workload agent
// provides the certificate, so ZENMESH_TLS_CERT/_KEY are optional here.
const env = egressEnv.extend({ ...meshIdentityEnv, ...messageIntegrityEnv });

runService('egress', async ({ logger }) => {
  const config = loadConfig(env);
  // Per-message HMAC + replay protection for every server and channel of this process (DESIGN.md).
  const integrity = await createMessageIntegrity({
    secretsDir: config.ZENMESH_SECRETS_DIR,
    cluster: config.ZENMESH_TRUST_DOMAIN,
    redisUrl: config.REDIS_URL,
    redisPrefix: config.ZENMESH_REDIS_PREFIX,
    insecureSkipVerify: config.ZENMESH_INSECURE_DISABLE_HMAC,
    logger,
  });
  useMessageIntegrity(integrity);
  // The workload agent: SVID from the CA (join, renew at half-life, bundle + revocation watches), and the
  // per-call peer guard for every server and channel of this process.
  const id = await startMeshIdentity('egress', config, logger);
  useMeshDefaults({ verifyPeer: id.verifyPeer, maxConnectionAgeMs: id.connectionAgeMs });
  const identity = id.provider;
  const mesh = { identity, trustDomain: config.ZENMESH_TRUST_DOMAIN, namespace: config.ZENMESH_NAMESPACE };
  const backend = createMeshChannel({ ...mesh, address: config.ZENMESH_BACKEND_ADDR, peer: 'backend' });
  const engine = createDeliveryEngine({
    deliveries: backend.client(DeliveryService),
    logger,
    pollMs: config.ZENMESH_EGRESS_POLL_MS,
    concurrency: config.ZENMESH_EGRESS_CONCURRENCY,
    timeoutMs: config.ZENMESH_EGRESS_TIMEOUT_MS,
    targetPolicy: { allow: config.ZENMESH_EGRESS_ALLOW_CIDRS },
    ...(config.ZENMESH_EGRESS_TARGET_CA === undefined
      ? {}
      : { targetCa: readFileSync(config.ZENMESH_EGRESS_TARGET_CA, 'utf8') }),
  });
  const server = createMeshServer({ ...mesh, service: 'egress', logger });
  server.register(EgressService, createEgressService(engine));
  const { address } = await server.listen(config.ZENMESH_GRPC_LISTEN);
  engine.start();
  id.setServingAddress(address);
  return {
    ready: { grpc: address },
    async stop() {
      await engine.stop();
      await server.shutdown({ graceMs: 5_000 });
      backend.close();
      id.stop();
      await integrity.close();
    },
  };
});
