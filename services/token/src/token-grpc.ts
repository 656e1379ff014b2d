import type { TokenService } from '@zenmesh/proto';
import type { ServiceImpl } from '@zenmesh/rpc';
import type { ApiKeyStore, ApiKeyVerdict } from './api-key-store.js';

/** The VerifyApiKeyResponse fields, every one present. */
export interface VerifyApiKeyAnswer {
  valid: boolean;
  keyId: string;
  /** Empty for a cluster-wide key. */
  tenantId: string;
  scopes: string[];
}

/** Refusals carry no detail at all: unknown, revoked, expired and malformed keys look the same. */
export function toVerifyApiKeyAnswer(verdict: ApiKeyVerdict): VerifyApiKeyAnswer {
  if (!verdict.valid) return { valid: false, keyId: '', tenantId: '', scopes: [] };
  return { valid: true, keyId: verdict.keyId, tenantId: verdict.tenantId ?? '', scopes: [...verdict.scopes] };
}

/** Verifies a presented key against the store: the function behind TokenService.VerifyApiKey. */
export function createApiKeyVerifier(store: ApiKeyStore): (apiKey: string) => Promise<VerifyApiKeyAnswer> {
  return async (apiKey) => toVerifyApiKeyAnswer(await store.verify(apiKey));
}

/** The TokenService handlers. Who may call them (bff only) is the mesh policy table's business. */
export function createTokenServiceImpl(store: ApiKeyStore): ServiceImpl<(typeof TokenService)['method']> {
  const verify = createApiKeyVerifier(store);
  return {
    async verifyApiKey(req, ctx) {
      const answer = await verify(req.apiKey);
      // The key itself is never logged; the key id is enough to trace who called.
      ctx.logger.debug({ valid: answer.valid, keyId: answer.keyId || undefined }, 'api key verified');
      return answer;
    },
  };
}
