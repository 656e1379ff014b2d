import type { Migration } from '@zenmesh/db';

/** The migration scope in schema_migrations; also the Postgres schema name. */
export const TOKEN_SCHEMA = 'token';

/**
 * Schema `token`, owned by this service alone. Append new migrations; never edit an applied one.
 * tenant_id has no foreign key on purpose: tenants live in the backend's database, which may be another
 * PGlite directory or server entirely.
 */
export const TOKEN_MIGRATIONS: readonly Migration[] = [
  {
    id: '0001_api_keys',
    sql: `
      CREATE SCHEMA IF NOT EXISTS token;
      CREATE TABLE token.api_keys (
        id          text PRIMARY KEY CHECK (id ~ '^key_[a-z2-7]{26}$'),
        tenant_id   text NULL,
        name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
        scopes      text[] NOT NULL DEFAULT '{}',
        key_sha256  text NOT NULL UNIQUE CHECK (key_sha256 ~ '^[0-9a-f]{64}$'),
        created_at  timestamptz NOT NULL DEFAULT now(),
        expires_at  timestamptz NULL,
        revoked_at  timestamptz NULL
      );
      CREATE INDEX api_keys_tenant_idx ON token.api_keys (tenant_id);
    `,
  },
];
