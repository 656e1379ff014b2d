import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';
import { CryptoError } from './errors.js';

/** Seals secrets at rest (source and endpoint secrets, CA keys) with AES-256-GCM. */
export interface SecretBox {
  /** `aad` binds the ciphertext to its place (e.g. the row id) so a sealed value cannot be moved to another row. */
  seal(plaintext: string | Uint8Array, aad: string): string;
  open(sealed: string, aad: string): string;
  openBytes(sealed: string, aad: string): Buffer;
}

const VERSION = 'v1';
const IV_BYTES = 12; // NIST SP 800-38D §8.2: 96-bit IVs, random, never reused under one key
const TAG_BYTES = 16;

/** The AES-256 key of one purpose: HKDF-SHA256(masterKey, info = `zenmesh/secret-box/<purpose>/v1`) (RFC 5869). */
export function secretBoxKey(masterKey: Uint8Array, purpose: string): Buffer {
  if (masterKey.length !== 32) throw new TypeError('createSecretBox: master key must be 32 bytes');
  if (!/^[a-z0-9-]+$/.test(purpose)) throw new TypeError('createSecretBox: purpose must be [a-z0-9-]+');
  return Buffer.from(
    hkdfSync('sha256', masterKey, Buffer.alloc(0), `zenmesh/secret-box/${purpose}/${VERSION}`, 32),
  );
}

/**
 * A box whose key is HKDF-SHA256(masterKey, info = `zenmesh/secret-box/<purpose>/v1`) (RFC 5869), so each
 * purpose has its own key and a leak of one sealed column says nothing about another.
 */
export function createSecretBox(masterKey: Uint8Array, purpose: string): SecretBox {
  return createSecretBoxFromKey(secretBoxKey(masterKey, purpose));
}

/**
 * The same box from its already derived 32-byte key (`secretBoxKey`): what a service holds when it is given
 * the keys of its own purposes instead of the master key (sealing-keys.json).
 */
export function createSecretBoxFromKey(boxKey: Uint8Array): SecretBox {
  if (boxKey.length !== 32) throw new TypeError('createSecretBoxFromKey: key must be 32 bytes');
  const key = Buffer.from(boxKey);
  const openBytes = (sealed: string, aad: string): Buffer => {
    const [version, body] = sealed.split('.', 2);
    if (version !== VERSION || body === undefined) {
      throw new CryptoError('ERR_SECRET_BOX_FORMAT', 'sealed value has an unknown format');
    }
    const raw = Buffer.from(body, 'base64url');
    if (raw.length < IV_BYTES + TAG_BYTES)
      throw new CryptoError('ERR_SECRET_BOX_FORMAT', 'sealed value is truncated');
    const iv = raw.subarray(0, IV_BYTES);
    const tag = raw.subarray(raw.length - TAG_BYTES);
    const ciphertext = raw.subarray(IV_BYTES, raw.length - TAG_BYTES);
    try {
      const decipher = createDecipheriv('aes-256-gcm', key, iv, { authTagLength: TAG_BYTES });
      decipher.setAAD(Buffer.from(aad, 'utf8'));
      decipher.setAuthTag(tag);
      return Buffer.concat([decipher.update(ciphertext), decipher.final()]);
    } catch (err) {
      throw new CryptoError('ERR_SECRET_BOX_OPEN', 'sealed value failed authentication', { cause: err });
    }
  };

  return {
    seal(plaintext, aad) {
      const iv = randomBytes(IV_BYTES);
      const cipher = createCipheriv('aes-256-gcm', key, iv, { authTagLength: TAG_BYTES });
      cipher.setAAD(Buffer.from(aad, 'utf8'));
      const data = typeof plaintext === 'string' ? Buffer.from(plaintext, 'utf8') : plaintext;
      const ciphertext = Buffer.concat([cipher.update(data), cipher.final()]);
      return `${VERSION}.${Buffer.concat([iv, ciphertext, cipher.getAuthTag()]).toString('base64url')}`;
    },
    open: (sealed, aad) => openBytes(sealed, aad).toString('utf8'),
    openBytes,
  };
}
