import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

const BASE32 = 'abcdefghijklmnopqrstuvwxyz234567';

/** RFC 4648 base32 (lower-case, unpadded). */
export function base32(bytes: Uint8Array): string {
  let out = '';
  let bits = 0;
  let value = 0;
  for (const byte of bytes) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += BASE32[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += BASE32[(value << (5 - bits)) & 31];
  return out;
}

/** A type-prefixed identifier: `evt_` + 26 base32 characters of 16 random bytes (128 bits). */
export function newId(prefix: string): string {
  if (!/^[a-z]{2,5}$/.test(prefix)) throw new TypeError(`newId: bad prefix ${JSON.stringify(prefix)}`);
  return `${prefix}_${base32(randomBytes(16))}`;
}

/**
 * Constant-time equality that does not leak length through an early return: both sides are hashed to a
 * fixed length first, then compared with timingSafeEqual.
 */
export function safeEqual(a: string | Uint8Array, b: string | Uint8Array): boolean {
  const ha = createHash('sha256').update(a).digest();
  const hb = createHash('sha256').update(b).digest();
  return timingSafeEqual(ha, hb) && toBuffer(a).length === toBuffer(b).length;
}

const toBuffer = (v: string | Uint8Array): Buffer =>
  typeof v === 'string' ? Buffer.from(v, 'utf8') : Buffer.from(v);

export function hmac(
  algorithm: 'sha256' | 'sha512',
  key: string | Uint8Array,
  data: string | Uint8Array,
): Buffer {
  return createHmac(algorithm, key).update(data).digest();
}

export function sha256Hex(data: string | Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

/** A random secret as base64url text. */
export function randomToken(bytes = 32): string {
  return randomBytes(bytes).toString('base64url');
}
