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
  {
    id: '0002_oauth',
    sql: `
      CREATE TABLE token.clients (
        id            text PRIMARY KEY CHECK (id ~ '^[A-Za-z0-9_.:-]{3,128}$'),
        name          text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
        secret_sha256 text NULL CHECK (secret_sha256 ~ '^[0-9a-f]{64}$'),
        auth_method   text NOT NULL CHECK (auth_method IN
                        ('client_secret_basic', 'client_secret_post', 'private_key_jwt', 'none')),
        jwks          jsonb NULL,
        redirect_uris text[] NOT NULL DEFAULT '{}',
        grant_types   text[] NOT NULL,
        scopes        text[] NOT NULL DEFAULT '{}',
        tenant_id     text NULL,
        created_at    timestamptz NOT NULL DEFAULT now(),
        disabled_at   timestamptz NULL
      );
      CREATE TABLE token.users (
        id                 text PRIMARY KEY CHECK (id ~ '^usr_[a-z2-7]{26}$'),
        username           text NOT NULL UNIQUE CHECK (username ~ '^[a-z0-9._@+-]{1,200}$'),
        password_hash      text NOT NULL CHECK (password_hash LIKE '$argon2id$%'),
        totp_secret_sealed text NULL,
        totp_enabled_at    timestamptz NULL,
        totp_last_step     bigint NULL,
        created_at         timestamptz NOT NULL DEFAULT now(),
        disabled_at        timestamptz NULL
      );
      -- tenant_id '*' is a cluster-wide membership.
      CREATE TABLE token.memberships (
        user_id   text NOT NULL REFERENCES token.users (id) ON DELETE CASCADE,
        tenant_id text NOT NULL,
        role      text NOT NULL CHECK (role IN ('reader', 'operator', 'admin')),
        PRIMARY KEY (user_id, tenant_id)
      );
      CREATE TABLE token.recovery_codes (
        user_id     text NOT NULL REFERENCES token.users (id) ON DELETE CASCADE,
        code_sha256 text NOT NULL CHECK (code_sha256 ~ '^[0-9a-f]{64}$'),
        used_at     timestamptz NULL,
        PRIMARY KEY (user_id, code_sha256)
      );
      -- One session per login (device) or client_credentials-free grant; it is also the refresh family.
      CREATE TABLE token.sessions (
        id             text PRIMARY KEY CHECK (id ~ '^ses_[a-z2-7]{26}$'),
        client_id      text NOT NULL,
        user_id        text NULL,
        tenant_id      text NULL,
        scopes         text[] NOT NULL,
        auth_time      timestamptz NOT NULL,
        created_at     timestamptz NOT NULL,
        expires_at     timestamptz NOT NULL,
        revoked_at     timestamptz NULL,
        revoked_reason text NULL
      );
      CREATE TABLE token.refresh_tokens (
        token_sha256  text PRIMARY KEY CHECK (token_sha256 ~ '^[0-9a-f]{64}$'),
        session_id    text NOT NULL REFERENCES token.sessions (id) ON DELETE CASCADE,
        parent_sha256 text NULL,
        created_at    timestamptz NOT NULL,
        expires_at    timestamptz NOT NULL,
        used_at       timestamptz NULL,
        revoked_at    timestamptz NULL
      );
      CREATE INDEX refresh_tokens_session_idx ON token.refresh_tokens (session_id);
      CREATE TABLE token.auth_codes (
        code_sha256    text PRIMARY KEY CHECK (code_sha256 ~ '^[0-9a-f]{64}$'),
        client_id      text NOT NULL,
        redirect_uri   text NOT NULL,
        code_challenge text NOT NULL,
        user_id        text NOT NULL,
        tenant_id      text NULL,
        scopes         text[] NOT NULL,
        nonce          text NULL,
        amr            text[] NOT NULL,
        auth_time      timestamptz NOT NULL,
        expires_at     timestamptz NOT NULL,
        used_at        timestamptz NULL,
        session_id     text NULL
      );
      -- Access tokens revoked before their exp (RFC 7009); rows are useless once expires_at has passed.
      CREATE TABLE token.revoked_tokens (
        jti        text PRIMARY KEY,
        expires_at timestamptz NOT NULL,
        revoked_at timestamptz NOT NULL
      );
      -- private_key_jwt assertions are single use (RFC 7523 §3, item 7).
      CREATE TABLE token.assertion_jtis (
        client_id  text NOT NULL,
        jti        text NOT NULL,
        expires_at timestamptz NOT NULL,
        PRIMARY KEY (client_id, jti)
      );
      -- Security audit events of the token service (refresh reuse, code reuse, login failures...).
      CREATE TABLE token.security_events (
        id         bigserial PRIMARY KEY,
        at         timestamptz NOT NULL DEFAULT now(),
        kind       text NOT NULL,
        client_id  text NULL,
        user_id    text NULL,
        session_id text NULL,
        ip         text NULL,
        detail     jsonb NOT NULL DEFAULT '{}'
      );
    `,
  },
  {
    id: '0003_account_hardening',
    sql: `
      -- RFC 7662 §4: the resource servers (audiences) whose tokens this client may introspect.
      ALTER TABLE token.clients ADD COLUMN resource_audiences text[] NOT NULL DEFAULT '{}';

      -- A TOTP enrollment in progress: the active factor (totp_secret_sealed) stays in force until the
      -- user proves the pending one with a code.
      ALTER TABLE token.users ADD COLUMN totp_pending_sealed text NULL;
      ALTER TABLE token.users ADD COLUMN totp_pending_at timestamptz NULL;
      ALTER TABLE token.recovery_codes ADD COLUMN pending boolean NOT NULL DEFAULT false;

      -- One-time links an admin's reset hands to the user (only the SHA-256 of the link token is stored).
      CREATE TABLE token.totp_enrollment_links (
        token_sha256 text PRIMARY KEY CHECK (token_sha256 ~ '^[0-9a-f]{64}$'),
        user_id      text NOT NULL REFERENCES token.users (id) ON DELETE CASCADE,
        issued_by    text NOT NULL,
        created_at   timestamptz NOT NULL,
        expires_at   timestamptz NOT NULL,
        opened_at    timestamptz NULL,
        completed_at timestamptz NULL,
        revoked_at   timestamptz NULL
      );
      CREATE INDEX totp_enrollment_links_user_idx ON token.totp_enrollment_links (user_id);

      -- Per-account backoff of failed logins and TOTP codes (login-backoff.ts). lane '*' is every caller
      -- without a device cookie of this account; a device lane is one browser that signed in before.
      CREATE TABLE token.login_backoff (
        account         text NOT NULL,
        lane            text NOT NULL,
        failures        integer NOT NULL,
        last_failure_at timestamptz NOT NULL,
        locked_until    timestamptz NULL,
        PRIMARY KEY (account, lane)
      );
      CREATE INDEX login_backoff_last_failure_idx ON token.login_backoff (last_failure_at);
      CREATE TABLE token.login_devices (
        token_sha256 text PRIMARY KEY CHECK (token_sha256 ~ '^[0-9a-f]{64}$'),
        user_id      text NOT NULL REFERENCES token.users (id) ON DELETE CASCADE,
        created_at   timestamptz NOT NULL,
        expires_at   timestamptz NOT NULL
      );

      -- Account actions (MFA enrollment, resets, confirmations, user creation): one hash chain, append-only.
      CREATE TABLE token.account_audit (
        seq        bigint PRIMARY KEY CHECK (seq > 0),
        at         timestamptz NOT NULL,
        actor      text NOT NULL,
        via        text NOT NULL,
        action     text NOT NULL,
        target     text NOT NULL,
        detail     jsonb NOT NULL,
        ip         text NOT NULL,
        user_agent text NOT NULL,
        prev_hash  text NOT NULL CHECK (prev_hash ~ '^[0-9a-f]{64}$'),
        hash       text NOT NULL CHECK (hash ~ '^[0-9a-f]{64}$')
      );
      CREATE TABLE token.account_audit_head (
        id   integer PRIMARY KEY CHECK (id = 1),
        seq  bigint NOT NULL,
        hash text NOT NULL
      );
      INSERT INTO token.account_audit_head (id, seq, hash) VALUES (1, 0, repeat('0', 64));
      CREATE FUNCTION token.account_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        RAISE EXCEPTION 'token.account_audit is append-only' USING ERRCODE = 'insufficient_privilege';
      END $$;
      CREATE TRIGGER account_audit_append_only BEFORE UPDATE OR DELETE ON token.account_audit
        FOR EACH ROW EXECUTE FUNCTION token.account_audit_append_only();
      CREATE TRIGGER account_audit_no_truncate BEFORE TRUNCATE ON token.account_audit
        FOR EACH STATEMENT EXECUTE FUNCTION token.account_audit_append_only();
    `,
  },
];
