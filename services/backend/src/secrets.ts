import { randomBytes } from 'node:crypto';
import { createSecretBox, type SecretBox } from '@zenmesh/crypto';

/** One key per column purpose: a leak of one sealed column says nothing about the other. */
export interface SecretBoxes {
  source: SecretBox;
  endpoint: SecretBox;
  /** Private keys of endpoints' mTLS client certificates. */
  clientKey: SecretBox;
}

export function createSecretBoxes(masterKey: Uint8Array): SecretBoxes {
  return {
    source: createSecretBox(masterKey, 'source-secret'),
    endpoint: createSecretBox(masterKey, 'endpoint-secret'),
    clientKey: createSecretBox(masterKey, 'endpoint-client-key'),
  };
}

/**
 * A Standard Webhooks signing secret: `whsec_` + base64 of 24 random bytes
 * (https://github.com/standard-webhooks/standard-webhooks/blob/main/spec/standard-webhooks.md#signature-scheme).
 */
export function newSigningSecret(): string {
  return `whsec_${randomBytes(24).toString('base64')}`;
}
