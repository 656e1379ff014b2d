import {
  commaList,
  grpcServerEnv,
  hostPort,
  httpUrl,
  meshServiceEnv,
  positiveInt,
  postgresUrl,
  z,
} from '@zenmesh/config';

/** Every variable the token service reads. */
export const tokenEnv = z
  .object({
    ...meshServiceEnv,
    ...grpcServerEnv,
    ZENMESH_HTTP_LISTEN: hostPort().default('127.0.0.1:4000'),
    /** A Postgres server (schema `token`); when unset the embedded PGlite database in ZENMESH_DATA_DIR. */
    DATABASE_URL: postgresUrl().optional(),
    ZENMESH_DATA_DIR: z.string().min(1).optional(),
    // The public base URL of this service (`iss` of every token); defaults to the URL it binds.
    ZENMESH_TOKEN_ISSUER: httpUrl().optional(),
    ZENMESH_TOKEN_SIGNING_ALG: z.enum(['ES256', 'EdDSA', 'RS256']).default('ES256'),
    ZENMESH_TOKEN_ACCESS_TTL: positiveInt(600).pipe(z.number().max(900, 'access tokens live at most 900 s')),
    ZENMESH_TOKEN_REFRESH_GRACE: z
      .string()
      .regex(/^\d+$/, 'expected whole seconds')
      .transform(Number)
      .default(10),
    /** Comma-separated addresses/CIDRs of reverse proxies whose X-Forwarded-For is believed. */
    ZENMESH_TRUSTED_PROXIES: commaList(),
    ZENMESH_BOOTSTRAP_ADMIN_KEY_SHA256: z
      .string()
      .regex(/^[0-9a-fA-F]{64}$/, 'expected the hex SHA-256 of the admin key')
      .optional(),
  })
  .refine((e) => e.DATABASE_URL !== undefined || e.ZENMESH_DATA_DIR !== undefined, {
    path: ['DATABASE_URL'],
    message: 'set DATABASE_URL (shared Postgres) or ZENMESH_DATA_DIR (embedded PGlite directory)',
  });

export type TokenEnv = z.output<typeof tokenEnv>;
