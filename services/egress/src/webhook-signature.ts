import { hmac } from '@zenmesh/crypto';
import { ZenMeshError } from '@zenmesh/errors';

const SECRET_PREFIX = 'whsec_';

/** Thrown for a signing secret that is not `whsec_` + base64; a backend bug, never a target's fault. */
export class SigningSecretError extends ZenMeshError<'ERR_SIGNING_SECRET'> {
  override readonly name = 'SigningSecretError';
  constructor(message: string) {
    super('ERR_SIGNING_SECRET', message);
  }
}

function secretKey(secret: string): Buffer {
  if (!secret.startsWith(SECRET_PREFIX))
    throw new SigningSecretError('signing secret lacks the whsec_ prefix');
  const text = secret.slice(SECRET_PREFIX.length);
  const key = Buffer.from(text, 'base64');
  if (key.length < 16 || !/^[A-Za-z0-9+/]+={0,2}$/.test(text)) {
    throw new SigningSecretError('signing secret is not base64 of at least 16 bytes');
  }
  return key;
}

/**
 * The `webhook-signature` header of Standard Webhooks: `v1,<base64 HMAC-SHA256>` over
 * `{id}.{timestamp}.{body}`, one entry per secret, space separated, so a receiver that holds either
 * secret during a rotation verifies
 * (https://github.com/standard-webhooks/standard-webhooks/blob/main/spec/standard-webhooks.md#signature-scheme).
 */
export function signWebhook(input: {
  id: string;
  timestamp: number;
  body: Uint8Array;
  secrets: readonly string[];
}): string {
  const { id, timestamp, body, secrets } = input;
  if (secrets.length === 0) throw new SigningSecretError('no signing secret');
  const signed = Buffer.concat([Buffer.from(`${id}.${timestamp}.`, 'utf8'), body]);
  return secrets
    .map((secret) => `v1,${hmac('sha256', secretKey(secret), signed).toString('base64')}`)
    .join(' ');
}
