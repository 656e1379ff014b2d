import { randomBytes } from 'node:crypto';
import { createSecretBox, type SecretBox } from '@zenmesh/crypto';

/** One key per column purpose: a leak of one sealed column says nothing about the other. */
export interface SecretBoxes {
  source: SecretBox;
  endpoint: SecretBox;
  /** Private keys of endpoints' mTLS client certificates. */
  clientKey: SecretBox;
}

/** The secret-box purposes the backend seals with: the keys its sealing-keys.json must hold. */
export const BACKEND_SEALING_PURPOSES = ['source-secret', 'endpoint-secret', 'endpoint-client-key'] as const;

/**
 * The boxes from the master key (tests, in-process use) or from a per-purpose opener (`openSecretBoxes` over
 * the service's sealing-keys.json: the backend is not given the master key).
 */
export function createSecretBoxes(source: Uint8Array | ((purpose: string) => SecretBox)): SecretBoxes {
  const box = typeof source === 'function' ? source : (purpose: string) => createSecretBox(source, purpose);
  return {
    source: box('source-secret'),
    endpoint: box('endpoint-secret'),
    clientKey: box('endpoint-client-key'),
  };
}

/**
 * A Standard Webhooks signing secret: `whsec_` + base64 of 24 random bytes
 * (https://github.com/standard-webhooks/standard-webhooks/blob/main/spec/standard-webhooks.md#signature-scheme).
 */
export function newSigningSecret(): string {
  return `whsec_${randomBytes(24).toString('base64')}`;
}
