import { createHash, timingSafeEqual } from 'node:crypto';
import { OIDC_SCOPES, parseScope } from '@zenmesh/auth';
import { randomToken, sha256Hex } from '@zenmesh/crypto';
import type { Db } from '@zenmesh/db';
import type { AccessTokens } from './access-tokens.js';
import type { OAuthClient } from './clients.js';
import { OAuthError } from './errors.js';
import type { SessionStore } from './sessions.js';

export interface TokenResponse {
  access_token: string;
  token_type: 'Bearer';
  expires_in: number;
  scope: string;
  refresh_token?: string;
  id_token?: string;
}

export interface CodeInput {
  clientId: string;
  redirectUri: string;
  codeChallenge: string;
  userId: string;
  tenantId: string | null;
  scopes: readonly string[];
  nonce: string | null;
  amr: readonly string[];
  authTime: Date;
}

export interface Grants {
  /** Issues a single-use authorization code (RFC 6749 §4.1.2), valid for `codeTtlSec`. */
  issueCode(input: CodeInput): Promise<string>;
  token(client: OAuthClient, form: URLSearchParams, ip: string | null): Promise<TokenResponse>;
}

const isOidc = (s: string) => (OIDC_SCOPES as readonly string[]).includes(s);

/** RFC 7636 §4.1: 43-128 characters of the unreserved set. */
const VERIFIER = /^[A-Za-z0-9._~-]{43,128}$/;

/**
 * The scopes a request may get: what it asked for, each of which the ceiling allows (RFC 6749 §3.3). No
 * request means the whole ceiling for client_credentials; a scope outside the ceiling is `invalid_scope`.
 */
export function grantScopes(requested: string | null, ceiling: readonly string[]): string[] {
  const asked = parseScope(requested);
  if (asked.length === 0) return [...ceiling];
  const outside = asked.filter((s) => !ceiling.includes(s));
  if (outside.length > 0)
    throw new OAuthError('invalid_scope', 'requested scope is not allowed for this client');
  return asked;
}

interface CodeRow {
  client_id: string;
  redirect_uri: string;
  code_challenge: string;
  user_id: string;
  tenant_id: string | null;
  scopes: string[];
  nonce: string | null;
  amr: string[];
  auth_time: Date;
  expires_at: Date;
  used_at: Date | null;
  session_id: string | null;
}

/** Which proof of the presenter failed (redirect_uri, PKCE verifier), or null when both hold. */
function proofFailure(
  row: CodeRow,
  redirectUri: string,
  verifier: string,
): 'redirect_uri' | 'code_verifier' | null {
  // RFC 6749 §4.1.3: the redirect_uri must be identical to the one in the authorization request.
  if (redirectUri !== row.redirect_uri) return 'redirect_uri';
  // RFC 7636 §4.6: BASE64URL(SHA256(code_verifier)) == code_challenge (S256 is the only method we accept).
  if (!VERIFIER.test(verifier)) return 'code_verifier';
  const computed = Buffer.from(createHash('sha256').update(verifier).digest('base64url'));
  const expected = Buffer.from(row.code_challenge);
  if (computed.length !== expected.length || !timingSafeEqual(computed, expected)) return 'code_verifier';
  return null;
}

export function createGrants(options: {
  db: Db;
  tokens: AccessTokens;
  sessions: SessionStore;
  codeTtlSec: number;
  now: () => Date;
}): Grants {
  const { db, tokens, sessions, now } = options;
  const invalidGrant = () => new OAuthError('invalid_grant', 'the grant is invalid, expired or already used');

  const respond = async (
    input: {
      sub: string;
      client: OAuthClient;
      scopes: string[];
      tenantId: string | null;
      sessionId?: string;
    },
    extra: { refreshToken?: string; idToken?: string } = {},
  ): Promise<TokenResponse> => {
    const minted = await tokens.mint({
      sub: input.sub,
      clientId: input.client.id,
      scopes: input.scopes,
      tenantId: input.tenantId,
      ...(input.sessionId === undefined ? {} : { sessionId: input.sessionId }),
    });
    return {
      access_token: minted.token,
      token_type: 'Bearer',
      expires_in: minted.expiresIn,
      scope: input.scopes.join(' '),
      ...(extra.refreshToken === undefined ? {} : { refresh_token: extra.refreshToken }),
      ...(extra.idToken === undefined ? {} : { id_token: extra.idToken }),
    };
  };

  /**
   * RFC 6749 §4.1.3 and RFC 7636 §4.6, in this order: everything the presenter must prove (client,
   * redirect_uri, PKCE verifier) is checked under the row lock *before* the code is touched, so a stranger
   * holding an intercepted code but not the verifier can neither burn it nor trigger the reuse revocation.
   * Only then is the code consumed, its session started and bound (`session_id`) in the same transaction,
   * so a concurrent second exchange, queued on the lock, always finds the session it must revoke.
   */
  async function authorizationCode(client: OAuthClient, form: URLSearchParams, ip: string | null) {
    const code = form.get('code') ?? '';
    const verifier = form.get('code_verifier') ?? '';
    const redirectUri = form.get('redirect_uri') ?? '';
    if (code === '' || code.length > 200) throw invalidGrant();
    const digest = sha256Hex(code);
    const outcome = await db.transaction(async (tx) => {
      const r = (
        await tx.query<CodeRow>('SELECT * FROM token.auth_codes WHERE code_sha256 = $1 FOR UPDATE', [digest])
      ).rows[0];
      if (r === undefined || r.client_id !== client.id) return { kind: 'invalid' as const };
      const failed = proofFailure(r, redirectUri, verifier);
      if (failed !== null) return { kind: 'proof_failed' as const, row: r, failed };
      if (r.used_at !== null) {
        // RFC 6749 §4.1.2: a code used twice SHOULD revoke the tokens issued from it. The first exchange
        // bound its session in its own transaction, so it is visible here.
        if (r.session_id !== null) await sessions.revokeSession(r.session_id, 'authorization_code_reuse', tx);
        await sessions.audit(
          {
            kind: 'authorization_code_reuse',
            clientId: client.id,
            userId: r.user_id,
            sessionId: r.session_id,
            ip,
          },
          tx,
        );
        return { kind: 'reused' as const };
      }
      if (r.expires_at.getTime() <= now().getTime()) return { kind: 'invalid' as const };
      const started = await sessions.start(
        {
          clientId: client.id,
          userId: r.user_id,
          tenantId: r.tenant_id,
          scopes: r.scopes,
          authTime: r.auth_time,
        },
        tx,
      );
      await tx.query('UPDATE token.auth_codes SET used_at = $2, session_id = $3 WHERE code_sha256 = $1', [
        digest,
        now(),
        started.session.id,
      ]);
      return { kind: 'issued' as const, row: r, ...started };
    });
    if (outcome.kind === 'proof_failed') {
      // Not consumed: the legitimate client can still redeem it. Recorded, since it may be an interception.
      await sessions.audit({
        kind: 'authorization_code_proof_failed',
        clientId: client.id,
        userId: outcome.row.user_id,
        ip,
        detail: { check: outcome.failed },
      });
      throw invalidGrant();
    }
    if (outcome.kind !== 'issued') throw invalidGrant();
    const { row, session, refreshToken } = outcome;
    const idToken = row.scopes.includes('openid')
      ? await tokens.mintIdToken({
          sub: row.user_id,
          clientId: client.id,
          nonce: row.nonce,
          authTime: row.auth_time,
          sessionId: session.id,
          amr: row.amr,
          ...(row.tenant_id === null ? {} : { extra: { tenant_id: row.tenant_id } }),
        })
      : undefined;
    return respond(
      { sub: row.user_id, client, scopes: row.scopes, tenantId: row.tenant_id, sessionId: session.id },
      {
        ...(client.grantTypes.includes('refresh_token') ? { refreshToken } : {}),
        ...(idToken === undefined ? {} : { idToken }),
      },
    );
  }

  return {
    async issueCode(input) {
      const code = randomToken(32);
      await db.query(
        `INSERT INTO token.auth_codes (code_sha256, client_id, redirect_uri, code_challenge, user_id, tenant_id,
           scopes, nonce, amr, auth_time, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
        [
          sha256Hex(code),
          input.clientId,
          input.redirectUri,
          input.codeChallenge,
          input.userId,
          input.tenantId,
          [...input.scopes],
          input.nonce,
          [...input.amr],
          input.authTime,
          new Date(now().getTime() + options.codeTtlSec * 1000),
        ],
      );
      return code;
    },

    async token(client, form, ip) {
      const grantType = form.get('grant_type') ?? '';
      if (!['authorization_code', 'client_credentials', 'refresh_token'].includes(grantType)) {
        throw new OAuthError('unsupported_grant_type', 'grant_type is not supported');
      }
      if (!(client.grantTypes as string[]).includes(grantType)) {
        throw new OAuthError('unauthorized_client', 'this client may not use this grant type');
      }
      if (grantType === 'client_credentials') {
        // RFC 6749 §4.4: confidential clients only.
        if (client.authMethod === 'none')
          throw new OAuthError('unauthorized_client', 'public clients cannot use client_credentials');
        const ceiling = client.scopes.filter((s) => !isOidc(s));
        const scopes = grantScopes(form.get('scope'), ceiling);
        return respond({ sub: client.id, client, scopes, tenantId: client.tenantId });
      }
      if (grantType === 'authorization_code') return authorizationCode(client, form, ip);

      const presented = form.get('refresh_token') ?? '';
      const outcome = await sessions.refresh(presented, client.id, ip);
      if (!outcome.ok) throw invalidGrant();
      // RFC 6749 §6: a refresh may narrow the scope, never widen it.
      const scopes = grantScopes(form.get('scope'), outcome.session.scopes);
      return respond(
        {
          sub: outcome.session.userId ?? client.id,
          client,
          scopes,
          tenantId: outcome.session.tenantId,
          sessionId: outcome.session.id,
        },
        { refreshToken: outcome.refreshToken },
      );
    },
  };
}
