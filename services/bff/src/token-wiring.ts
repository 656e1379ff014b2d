import type { MessageInitShape } from '@bufbuild/protobuf';
import { timestampDate } from '@bufbuild/protobuf/wkt';
import {
  type AccessTokenVerifier,
  createAccessTokenVerifier,
  createIntrospectionRevocationCheck,
} from '@zenmesh/auth';
import type {
  ExchangeApiKeyRequestSchema,
  ExchangeApiKeyResponse,
  IntrospectRequestSchema,
  IntrospectResponse,
  VerifyApiKeyRequestSchema,
  VerifyApiKeyResponse,
} from '@zenmesh/proto';
import type { CallOptions } from '@zenmesh/rpc';
import type { TokenAdminClient } from './admin-routes.js';
import type { VerifyApiKey } from './api-key-auth.js';
import type { ExchangeApiKey } from './caller-auth.js';

/** The TokenService client the bff holds (the rpc client satisfies it structurally). */
export interface TokenServiceClient extends TokenAdminClient {
  verifyApiKey(
    req: MessageInitShape<typeof VerifyApiKeyRequestSchema>,
    o?: CallOptions,
  ): Promise<VerifyApiKeyResponse>;
  introspect(
    req: MessageInitShape<typeof IntrospectRequestSchema>,
    o?: CallOptions,
  ): Promise<IntrospectResponse>;
  exchangeApiKey(
    req: MessageInitShape<typeof ExchangeApiKeyRequestSchema>,
    o?: CallOptions,
  ): Promise<ExchangeApiKeyResponse>;
}

export interface TokenAuthOptions {
  /** The token service's public base URL (its `iss`). */
  issuer: string;
  /** Where the issuer's keys are fetched; default `<issuer>/.well-known/jwks.json`. */
  jwksUri?: string;
  /** Default `urn:zenmesh:api`. */
  audience?: string;
  /** How long an "active" introspection answer is reused per token; default 5 000 ms. */
  revocationCacheMs?: number;
}

/**
 * Everything `createBffApp` needs from the token service, from one mTLS client: API-key checks, JWT verification
 * (JWKS over HTTP from the issuer + revocation through Introspect), API-key exchange for forwarding, admin calls.
 */
export function createTokenAuth(
  tokens: TokenServiceClient,
  options: TokenAuthOptions,
): {
  verifyApiKey: VerifyApiKey;
  verifyAccessToken: AccessTokenVerifier;
  exchangeApiKey: ExchangeApiKey;
  tokenAdmin: TokenAdminClient;
} {
  return {
    verifyApiKey: (apiKey) => tokens.verifyApiKey({ apiKey }),
    verifyAccessToken: createAccessTokenVerifier({
      issuer: options.issuer,
      ...(options.jwksUri === undefined ? {} : { jwksUri: options.jwksUri }),
      audience: options.audience ?? 'urn:zenmesh:api',
      isRevoked: createIntrospectionRevocationCheck({
        introspect: (token) => tokens.introspect({ token }),
        cacheTtlMs: options.revocationCacheMs ?? 5_000,
      }),
    }),
    exchangeApiKey: async (apiKey) => {
      const r = await tokens.exchangeApiKey({ apiKey });
      return {
        valid: r.valid,
        accessToken: r.accessToken,
        expiresAt: r.expiresAt === undefined ? null : timestampDate(r.expiresAt),
      };
    },
    tokenAdmin: tokens,
  };
}
