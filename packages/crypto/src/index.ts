export type { CryptoErrorCode } from './errors.js';
export { CryptoError } from './errors.js';
export { loadMasterKey, MASTER_KEY_BYTES, MASTER_KEY_FILE, parseMasterKey } from './master-key.js';
export type {
  KeyPair,
  KeyringState,
  KeyVersion,
  MessageKeyring,
  MessageKeyringOptions,
} from './message-keys.js';
export {
  activateKeyVersion,
  addKeyVersion,
  createMessageKeyring,
  derivePairKey,
  INITIAL_KEYRING,
  KEYRING_FILE,
  keyIdFor,
  parseKeyId,
  readKeyringFile,
  validateKeyring,
  writeKeyringFile,
} from './message-keys.js';
export type {
  MessageSigner,
  RequestInput,
  RequestRefusal,
  RequestSignature,
  RequestVerdict,
  ResponseInput,
  ResponseOutcome,
} from './message-signer.js';
export {
  canonicalRequest,
  canonicalResponse,
  createMessageSigner,
  DEFAULT_WINDOW_SECONDS,
  isCoverableHeader,
} from './message-signer.js';
export type { NonceStore, RedisNonceStoreOptions } from './nonce-store.js';
export { createMemoryNonceStore, createNonceStore, createRedisNonceStore } from './nonce-store.js';
export { base32, hmac, newId, randomToken, safeEqual, sha256Hex } from './primitives.js';
export type { SealingKeys } from './sealing-keys.js';
export {
  deriveSealingKeys,
  openSecretBoxes,
  SEALING_KEYS_FILE,
  serializeSealingKeys,
  validateSealingKeys,
  writeSealingKeysFile,
} from './sealing-keys.js';
export type { SecretBox } from './secret-box.js';
export { createSecretBox, createSecretBoxFromKey, secretBoxKey } from './secret-box.js';
export type { WorkloadKeyring, WorkloadKeyringOptions } from './workload-keyring.js';
export { createWorkloadKeyring } from './workload-keyring.js';
export type {
  WorkloadKeys,
  WorkloadKeysVersion,
  WorkloadPairKey,
} from './workload-keys.js';
export {
  buildWorkloadKeys,
  readWorkloadKeysFile,
  serializeWorkloadKeys,
  validateWorkloadKeys,
  WORKLOAD_KEYS_FILE,
  workloadKeysPeers,
  writeWorkloadKeysFile,
} from './workload-keys.js';
