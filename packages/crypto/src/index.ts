export type { CryptoErrorCode } from './errors.js';
export { CryptoError } from './errors.js';
export { loadMasterKey, MASTER_KEY_BYTES, MASTER_KEY_FILE, parseMasterKey } from './master-key.js';
export { base32, hmac, newId, randomToken, safeEqual, sha256Hex } from './primitives.js';
export type { SecretBox } from './secret-box.js';
export { createSecretBox } from './secret-box.js';
