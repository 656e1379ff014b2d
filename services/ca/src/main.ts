import { grpcServerEnv, loadConfig, meshEnv, runService, z } from '@zenmesh/config';
import { loadTlsIdentity } from '@zenmesh/rpc';
import { startCaService } from './ca-service.js';

runService('ca', async ({ logger }) => {
  const env = loadConfig(
    z.object({
      ...meshEnv,
      ...grpcServerEnv,
      ZENMESH_CA_BUNDLE: z.string({ error: 'path to the PEM trust bundle to serve is required' }).min(1),
    }),
  );
  return startCaService({
    logger,
    identity: loadTlsIdentity({
      cert: env.ZENMESH_TLS_CERT,
      key: env.ZENMESH_TLS_KEY,
      ca: env.ZENMESH_TLS_CA,
    }),
    trustDomain: env.ZENMESH_TRUST_DOMAIN,
    namespace: env.ZENMESH_NAMESPACE,
    grpcListen: env.ZENMESH_GRPC_LISTEN,
    bundlePath: env.ZENMESH_CA_BUNDLE,
  });
});
