import {
  grpcServerEnv,
  hostPort,
  loadConfig,
  meshEnv,
  messageIntegrityEnv,
  positiveInt,
  runService,
  startMessageIntegrity,
  z,
} from '@zenmesh/config';
import { startCaService } from './ca-service.js';

runService('ca', async ({ logger }) => {
  const env = loadConfig(
    z.object({
      ZENMESH_TRUST_DOMAIN: meshEnv.ZENMESH_TRUST_DOMAIN,
      ZENMESH_NAMESPACE: meshEnv.ZENMESH_NAMESPACE,
      ...grpcServerEnv,
      ...messageIntegrityEnv,
      ZENMESH_CA_JOIN_LISTEN: hostPort().default('127.0.0.1:0'),
      // Where to keep the current trust bundle for launchers and operators (public; rewritten on change).
      ZENMESH_CA_BUNDLE_FILE: z.string().min(1).optional(),
      // Lifetime of issued SVIDs in seconds; workloads renew at half of it (DESIGN.md: default 1 h).
      ZENMESH_SVID_TTL: positiveInt(3600).pipe(
        z
          .number()
          .min(10, 'at least 10 s')
          .max(24 * 3600, 'at most 24 h'),
      ),
      ZENMESH_CA_CONFIRM_TIMEOUT_MS: positiveInt(60_000),
      ZENMESH_CA_REISSUE_TIMEOUT_MS: positiveInt(60_000),
    }),
  );
  // Per-message HMAC + replay protection for every server and channel of this process (DESIGN.md). The CA has
  // no workload identity of its own (it issues them), so it takes this half of startMeshRuntime only.
  const integrity = await startMessageIntegrity(env, logger);
  try {
    const ca = await startCaService({
      logger,
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
    });
    return {
      ready: ca.ready,
      async stop() {
        await ca.stop();
        await integrity.close();
      },
    };
  } catch (err) {
    await integrity.close();
    throw err;
  }
});
