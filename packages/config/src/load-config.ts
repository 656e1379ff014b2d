import { z } from 'zod';
import { ConfigError } from './errors.js';

/**
 * Parses environment variables with a zod object whose keys are the variable names. The first problem
 * becomes one ConfigError line naming the variable, so an operator sees exactly what to fix.
 */
export function loadConfig<S extends z.ZodRawShape>(
  schema: z.ZodObject<S>,
  env: Record<string, string | undefined> = process.env,
): z.output<z.ZodObject<S>> {
  const input: Record<string, string | undefined> = {};
  for (const key of Object.keys(schema.shape)) {
    const value = env[key];
    // An empty variable means "unset": `FOO= cmd` should fall back to the default, not fail validation.
    input[key] = value === '' ? undefined : value;
  }
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  const name = issue?.path.join('.') || 'environment';
  const shown = input[name] === undefined ? 'unset' : 'invalid';
  throw new ConfigError(`${name}: ${shown}: ${issue?.message ?? 'invalid'}`);
}

const HOST_PORT = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/;

/** host:port, port 0-65535 (0 = pick a free port). */
export const hostPort = () =>
  z.string().refine((v) => {
    const m = HOST_PORT.exec(v);
    return m !== null && Number(m[2]) <= 65535;
  }, 'expected host:port');

export const httpUrl = () =>
  z.string().refine((v) => {
    try {
      const u = new URL(v);
      return u.protocol === 'http:' || u.protocol === 'https:';
    } catch {
      return false;
    }
  }, 'expected an http(s) URL');

/** A positive integer given as text. */
export const positiveInt = (fallback: number) =>
  z
    .string()
    .regex(/^\d+$/, 'expected a positive integer')
    .transform(Number)
    .pipe(z.number().int().positive())
    .default(fallback);

const TRUST_DOMAIN = /^[a-z0-9._-]+$/;
const NAME = /^[a-z0-9][a-z0-9-]{0,62}$/;

/** Variables every mesh service reads. */
export const meshEnv = {
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

export const redisUrl = () =>
  z.string().refine((v) => {
    try {
      const u = new URL(v);
      return u.protocol === 'redis:' || u.protocol === 'rediss:';
    } catch {
      return false;
    }
  }, 'expected a redis:// or rediss:// URL');

/**
 * Variables of the message-integrity layer, read by every service (DESIGN.md "Message integrity"):
 * the secrets directory (master key + HMAC keyring), Redis for nonces (in-process store when unset,
 * single instance only) and its key prefix, and the test-only switch that disables verification.
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
};
