import { randomToken, sha256Hex } from '@zenmesh/crypto';

/** Every API key starts with this, so secret scanners (and people) can recognise a leaked one. */
export const API_KEY_PREFIX = 'zm_';

const API_KEY_RANDOM_BYTES = 32;

// `zm_` + unpadded base64url of exactly 32 bytes (43 characters; the last one carries 4 data bits).
const API_KEY_PATTERN = /^zm_[A-Za-z0-9_-]{42}[AEIMQUYcgkosw048]$/;

/** A fresh API key: 256 bits from the CSPRNG. Shown to its owner once; only its hash is stored. */
export function generateApiKey(): string {
  return `${API_KEY_PREFIX}${randomToken(API_KEY_RANDOM_BYTES)}`;
}

/** True when `value` has the exact shape `generateApiKey` produces; anything else is refused unseen. */
export function isWellFormedApiKey(value: string): boolean {
  return API_KEY_PATTERN.test(value);
}

/** The stored form of a key: lower-case hex SHA-256 of its UTF-8 text. */
export function hashApiKey(apiKey: string): string {
  return sha256Hex(apiKey);
}

/** True for a 64-character lower-case hex SHA-256 digest. */
export function isSha256Hex(value: string): boolean {
  return /^[0-9a-f]{64}$/.test(value);
}
