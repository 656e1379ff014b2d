import {
  grpcServerEnv,
  hostPort,
  meshEnv,
  messageIntegrityEnv,
  metricsEnv,
  positiveInt,
  z,
} from '@zenmesh/config';

/**
 * Every variable the CA reads. It has no workload identity of its own (it issues them), so it takes the trust
 * domain and namespace of `meshEnv`, not the certificate paths.
 */
export const caEnv = z.object({
  ZENMESH_TRUST_DOMAIN: meshEnv.ZENMESH_TRUST_DOMAIN,
  ZENMESH_NAMESPACE: meshEnv.ZENMESH_NAMESPACE,
  LOG_LEVEL: meshEnv.LOG_LEVEL,
  ...grpcServerEnv,
  ...messageIntegrityEnv,
  ...metricsEnv,
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
});

export type CaEnv = z.output<typeof caEnv>;
