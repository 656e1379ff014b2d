import { z } from 'zod';
import { hostPort, positiveInt, redisUrl } from './env-values.js';

const TRUST_DOMAIN = /^[a-z0-9._-]+$/;
const NAME = /^[a-z0-9][a-z0-9-]{0,62}$/;

/**
 * Where the process serves `GET /metrics` (Prometheus text), host:port. Unset (the default): no metrics
 * listener at all. The launcher sets a loopback address; compose and the chart set `0.0.0.0:9464` on the
 * internal network only, never published.
 */
export const metricsEnv = {
  ZENMESH_METRICS_LISTEN: hostPort().optional(),
};

/** Variables every mesh service reads. */
export const meshEnv = {
  ...metricsEnv,
  ZENMESH_TRUST_DOMAIN: z
    .string()
    .regex(TRUST_DOMAIN, 'expected a lower-case trust domain')
    .default('zenmesh.local'),
  ZENMESH_NAMESPACE: z.string().regex(NAME, 'expected a lower-case name').default('zenmesh'),
  ZENMESH_TLS_CERT: z.string({ error: 'path to the PEM certificate chain is required' }).min(1),
  ZENMESH_TLS_KEY: z.string({ error: 'path to the PEM private key is required' }).min(1),
  ZENMESH_TLS_CA: z.string({ error: 'path to the PEM trust bundle is required' }).min(1),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
};

/** For services that serve gRPC. */
export const grpcServerEnv = {
  ZENMESH_GRPC_LISTEN: hostPort().default('127.0.0.1:0'),
};

/**
 * Variables of the message-integrity layer, read by every service (DESIGN.md "Message integrity"):
 * the secrets directory (master key + HMAC keyring), Redis for nonces (in-process store when unset,
 * single instance only) and its key prefix, the instance count, and the test-only switch that disables
 * verification.
 */
export const messageIntegrityEnv = {
  ZENMESH_SECRETS_DIR: z.string({ error: 'directory holding master.key is required' }).min(1),
  REDIS_URL: redisUrl().optional(),
  ZENMESH_REDIS_PREFIX: z
    .string()
    .regex(/^[A-Za-z0-9:._{}-]{1,200}$/, 'expected 1-200 of [A-Za-z0-9:._{}-]')
    .optional(),
  ZENMESH_INSECURE_DISABLE_HMAC: z
    .enum(['0', '1'], { error: 'expected 0 or 1' })
    .default('0')
    .transform((v) => v === '1'),
  /**
   * How many instances of this service the deployment runs (the launcher's `--replicas`, Helm's replica
   * count). Above 1, a service refuses to start without REDIS_URL: nonces and webhook dedup must be shared.
   */
  ZENMESH_REPLICAS: positiveInt(1),
};

/**
 * Identity variables of a mesh service. Normally the workload agent provides the certificate: the launcher
 * (or an operator) passes a one-time join token and the CA's two addresses, and `ZENMESH_TLS_CA` is the bundle
 * given out of band that authenticates the CA at join. Without a token, `ZENMESH_TLS_CERT`/`_KEY` are PEM
 * files someone else keeps current (followed on disk).
 */
export const meshIdentityEnv = {
  ZENMESH_TRUST_DOMAIN: meshEnv.ZENMESH_TRUST_DOMAIN,
  ZENMESH_NAMESPACE: meshEnv.ZENMESH_NAMESPACE,
  ZENMESH_TLS_CA: meshEnv.ZENMESH_TLS_CA,
  ZENMESH_TLS_CERT: z.string().min(1).optional(),
  ZENMESH_TLS_KEY: z.string().min(1).optional(),
  ZENMESH_JOIN_TOKEN: z.string().min(1).optional(),
  ZENMESH_CA_ADDR: hostPort().optional(),
  ZENMESH_CA_JOIN_ADDR: hostPort().optional(),
  /** Where the agent keeps its SVID (svid.pem, svid-key.pem, bundle.pem), so a restart can resume. */
  ZENMESH_SVID_DIR: z.string().min(1).optional(),
  /**
   * host:port at which the CA can reach this workload's gRPC server (its canary probe during a CA rotation),
   * when the bound address is not reachable as is (`0.0.0.0:7200` in a container): compose sets the service
   * name, the chart the pod IP. Unset: the bound address is reported.
   */
  ZENMESH_ADVERTISE_ADDR: hostPort().optional(),
};

/** The variables of `meshIdentityEnv` once parsed by `loadConfig`. */
export type MeshIdentityEnv = z.output<z.ZodObject<typeof meshIdentityEnv>>;

/** The variables of `messageIntegrityEnv` once parsed by `loadConfig`. */
export type MessageIntegrityEnv = z.output<z.ZodObject<typeof messageIntegrityEnv>>;

/**
 * Everything a mesh service with a workload identity reads besides its own settings: the common variables,
 * the identity (agent or PEM files) and message integrity. Spread into each service's `config.ts`.
 */
export const meshServiceEnv = {
  ...meshEnv,
  ...meshIdentityEnv,
  ...messageIntegrityEnv,
};
