import { runService, startMessageIntegrity } from '@zenmesh/runtime';
import { observeCa } from './ca-metrics.js';
import { startCaService } from './ca-service.js';
import { caEnv } from './config.js';

runService('ca', caEnv, async ({ env, logger, meter, defer }) => {
  // The CA has no workload identity (it issues them): message integrity is all of the runtime it takes.
  const integrity = await startMessageIntegrity(env, logger, 'ca');
  defer(() => integrity.close());
  const ca = await startCaService({
    logger,
    integrity,
    trustDomain: env.ZENMESH_TRUST_DOMAIN,
    namespace: env.ZENMESH_NAMESPACE,
    secretsDir: env.ZENMESH_SECRETS_DIR,
    grpcListen: env.ZENMESH_GRPC_LISTEN,
    joinListen: env.ZENMESH_CA_JOIN_LISTEN,
    svidTtlSeconds: env.ZENMESH_SVID_TTL,
    rotation: {
      confirmTimeoutMs: env.ZENMESH_CA_CONFIRM_TIMEOUT_MS,
      reissueTimeoutMs: env.ZENMESH_CA_REISSUE_TIMEOUT_MS,
    },
    ...(env.ZENMESH_CA_BUNDLE_FILE ? { bundleFile: env.ZENMESH_CA_BUNDLE_FILE } : {}),
    meter,
  });
  observeCa(meter, ca.core);
  defer(() => ca.stop());
  return ca.ready;
});
