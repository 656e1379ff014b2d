import { timingSafeEqual } from 'node:crypto';
import { randomToken, sha256Hex } from '@zenmesh/crypto';
import type { Queryable } from '@zenmesh/db';
import { createLocalJWKSet, type JSONWebKeySet, jwtVerify } from 'jose';
import { OAuthError, TokenError } from './errors.js';

export type ClientAuthMethod = 'client_secret_basic' | 'client_secret_post' | 'private_key_jwt' | 'none';
export type GrantType = 'authorization_code' | 'client_credentials' | 'refresh_token';

export interface OAuthClient {
  id: string;
  name: string;
  authMethod: ClientAuthMethod;
  redirectUris: string[];
  grantTypes: GrantType[];
  /** The most a token for this client may carry; requested scopes must be a subset. */
  scopes: string[];
  /** client_credentials tokens act for this tenant; null for a cluster-wide client. */
  tenantId: string | null;
  jwks: JSONWebKeySet | null;
  /** RFC 7662 §4: the audiences (resource servers) whose tokens this client may introspect. */
  resourceAudiences: string[];
}

export interface CreateClientInput {
  id?: string;
  name: string;
  authMethod: ClientAuthMethod;
  redirectUris?: readonly string[];
  grantTypes: readonly GrantType[];
  scopes: readonly string[];
  tenantId?: string | null;
  /** Public keys for private_key_jwt. */
  jwks?: JSONWebKeySet;
  /** Audiences whose access tokens this client may introspect (it is, or fronts, that resource server). */
  resourceAudiences?: readonly string[];
}

export interface ClientStore {
  /** Registers a client; a generated secret (client_secret_*) is returned here and nowhere else. */
  create(input: CreateClientInput): Promise<{ client: OAuthClient; clientSecret: string | null }>;
  get(id: string): Promise<OAuthClient | null>;
  /** Every live client, oldest first (never a secret: only its hash is stored). */
  list(): Promise<OAuthClient[]>;
}

interface ClientRow {
  id: string;
  name: string;
  auth_method: ClientAuthMethod;
  redirect_uris: string[];
  grant_types: GrantType[];
  scopes: string[];
  tenant_id: string | null;
  jwks: JSONWebKeySet | null;
  resource_audiences: string[];
  secret_sha256: string | null;
  disabled_at: Date | null;
}

const toClient = (r: ClientRow): OAuthClient => ({
  id: r.id,
  name: r.name,
  authMethod: r.auth_method,
  redirectUris: [...r.redirect_uris],
  grantTypes: [...r.grant_types],
  scopes: [...r.scopes],
  tenantId: r.tenant_id,
  jwks: r.jwks,
  resourceAudiences: [...r.resource_audiences],
});

export function createClientStore(
  db: Queryable,
): ClientStore & { row(id: string): Promise<ClientRow | null> } {
  const row = async (id: string): Promise<ClientRow | null> => {
    if (!/^[A-Za-z0-9_.:-]{3,128}$/.test(id)) return null;
    const { rows } = await db.query<ClientRow>('SELECT * FROM token.clients WHERE id = $1', [id]);
    const r = rows[0];
    return r === undefined || r.disabled_at !== null ? null : r;
  };
  return {
    row,
    async create(input) {
      const id = input.id ?? `cli_${randomToken(12)}`;
      for (const uri of input.redirectUris ?? []) {
        // RFC 9700 §4.1.1: exact-match redirect URIs, registered in full, no fragments.
        const u = new URL(uri);
        if (u.hash !== '' || !/^https?:$/.test(u.protocol)) {
          throw new TokenError(
            'ERR_CLIENT_ARGUMENT',
            `redirect URI ${uri} must be http(s) without a fragment`,
          );
        }
      }
      if (input.authMethod === 'private_key_jwt' && input.jwks === undefined) {
        throw new TokenError('ERR_CLIENT_ARGUMENT', 'private_key_jwt clients need jwks');
      }
      const secret = input.authMethod.startsWith('client_secret') ? randomToken(32) : null;
      await db.query(
        `INSERT INTO token.clients (id, name, secret_sha256, auth_method, jwks, redirect_uris, grant_types, scopes,
           tenant_id, resource_audiences)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
        [
          id,
          input.name,
          secret === null ? null : sha256Hex(secret),
          input.authMethod,
          input.jwks === undefined ? null : JSON.stringify(input.jwks),
          [...(input.redirectUris ?? [])],
          [...input.grantTypes],
          [...input.scopes],
          input.tenantId ?? null,
          [...new Set(input.resourceAudiences ?? [])],
        ],
      );
      const created = await row(id);
      if (created === null) throw new TokenError('ERR_INTERNAL', 'client vanished after insert');
      return { client: toClient(created), clientSecret: secret };
    },
    async get(id) {
      const r = await row(id);
      return r === null ? null : toClient(r);
    },
    async list() {
      const { rows } = await db.query<ClientRow>(
        'SELECT * FROM token.clients WHERE disabled_at IS NULL ORDER BY created_at, id',
      );
      return rows.map(toClient);
    },
  };
}

export interface ClientCredentials {
  /** From the Authorization: Basic header (RFC 6749 §2.3.1, form-urlencoded parts). */
  basic?: { id: string; secret: string } | undefined;
  /** The request body. */
  form: URLSearchParams;
}

/** Parses `Authorization: Basic` per RFC 6749 §2.3.1 (id and secret are form-urlencoded before base64). */
export function parseBasicAuth(header: string | undefined): { id: string; secret: string } | undefined {
  if (header === undefined) return undefined;
  const m = /^Basic[ ]+([A-Za-z0-9+/=]+)[ ]*$/i.exec(header);
  if (m === null) throw new OAuthError('invalid_client', 'client authentication failed', 401);
  const text = Buffer.from(m[1] ?? '', 'base64').toString('utf8');
  const i = text.indexOf(':');
  if (i < 0) throw new OAuthError('invalid_client', 'client authentication failed', 401);
  try {
    return {
      id: decodeURIComponent(text.slice(0, i).replace(/\+/g, ' ')),
      secret: decodeURIComponent(text.slice(i + 1).replace(/\+/g, ' ')),
    };
  } catch {
    throw new OAuthError('invalid_client', 'client authentication failed', 401);
  }
}

/** The client id a request claims, before authentication (for the lookup; never a rate-limit key). */
export function claimedClientId(creds: ClientCredentials): string | null {
  return creds.basic?.id ?? creds.form.get('client_id') ?? null;
}

const ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';

/**
 * Authenticates the client of a token, introspection or revocation request with the method it registered
 * (RFC 6749 §2.3, RFC 7523 §2.2 for private_key_jwt). Every failure is the same `invalid_client` answer.
 */
export function createClientAuthenticator(options: {
  clients: ReturnType<typeof createClientStore>;
  db: Queryable;
  /** Acceptable `aud` values of a client assertion: the issuer and the token endpoint URL. */
  assertionAudiences: string[];
  now: () => Date;
}) {
  const fail = () => new OAuthError('invalid_client', 'client authentication failed', 401);
  // Compare against a dummy digest when the client is unknown, so both branches do the same work.
  const dummy = sha256Hex('dummy-client-secret');

  return async (creds: ClientCredentials, allowPublic: boolean): Promise<OAuthClient> => {
    const assertion = creds.form.get('client_assertion');
    const postSecret = creds.form.get('client_secret');
    const methods = [creds.basic !== undefined, postSecret !== null, assertion !== null].filter(
      Boolean,
    ).length;
    // RFC 6749 §2.3: a client MUST NOT use more than one authentication method per request.
    if (methods > 1) throw fail();
    const id = claimedClientId(creds);
    if (id === null) throw fail();
    if (creds.basic !== undefined && creds.form.has('client_id') && creds.form.get('client_id') !== id)
      throw fail();
    const row = await options.clients.row(id);

    if (assertion !== null) {
      if (creds.form.get('client_assertion_type') !== ASSERTION_TYPE) throw fail();
      if (row === null || row.auth_method !== 'private_key_jwt' || row.jwks === null) throw fail();
      try {
        const { payload } = await jwtVerify(assertion, createLocalJWKSet(row.jwks), {
          issuer: id,
          subject: id,
          audience: options.assertionAudiences,
          algorithms: ['ES256', 'EdDSA', 'RS256', 'PS256'],
          maxTokenAge: '5m',
          requiredClaims: ['jti', 'exp'],
          currentDate: options.now(),
        });
        const exp = new Date((payload.exp ?? 0) * 1000);
        const { rowCount } = await options.db.query(
          `INSERT INTO token.assertion_jtis (client_id, jti, expires_at) VALUES ($1, $2, $3)
           ON CONFLICT DO NOTHING`,
          [id, String(payload.jti), exp],
        );
        if (rowCount !== 1) throw fail();
      } catch {
        throw fail();
      }
      return toClient(row);
    }

    const secret = creds.basic?.secret ?? postSecret;
    if (secret === null) {
      if (allowPublic && row !== null && row.auth_method === 'none') return toClient(row);
      throw fail();
    }
    const method: ClientAuthMethod = creds.basic !== undefined ? 'client_secret_basic' : 'client_secret_post';
    const expected = Buffer.from(row?.secret_sha256 ?? dummy, 'hex');
    const presented = Buffer.from(sha256Hex(secret), 'hex');
    const match = timingSafeEqual(expected, presented);
    if (row === null || row.secret_sha256 === null || !match || row.auth_method !== method) throw fail();
    return toClient(row);
  };
}
