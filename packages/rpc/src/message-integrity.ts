import {
  CryptoError,
  createMemoryNonceStore,
  createMessageKeyring,
  createMessageSigner,
  createRedisNonceStore,
  createWorkloadKeyring,
  type KeyringState,
  loadMasterKey,
  type MessageKeyring,
  type MessageSigner,
  type NonceStore,
  type RequestRefusal,
  type RequestSignature,
  type ResponseOutcome,
  readWorkloadKeysFile,
  WORKLOAD_KEYS_FILE,
} from '@zenmesh/crypto';
import { spiffeIdFor } from '@zenmesh/pki';
import type { Logger } from '@zenmesh/telemetry';

/** gRPC metadata keys of the message-integrity layer (lower-case, ASCII values). */
export const INTEGRITY_METADATA = {
  /**
   * The request signature, one entry: `<key id>.<timestamp>.<nonce>.<HMAC>` (key id `v<n>`, Unix seconds,
   * 22 and 43 base64url characters; none of them contains a dot). One header to validate, encode and parse
   * instead of four; what the HMAC covers is unchanged (ADR 0004).
   */
  signature: 'x-zm-signature',
  /** The request metadata names the signature covers (sorted, comma-separated); absent when none. */
  headers: 'x-zm-signed-headers',
  /** Trailing metadata of a unary response or of an error status: HMAC over the outcome. */
  responseSignature: 'x-zm-response-signature',
} as const;

/** Methods protected by mutual TLS alone: health probes carry no data worth replaying. */
export const INTEGRITY_EXEMPT: readonly string[] = [
  '/grpc.health.v1.Health/Check',
  '/grpc.health.v1.Health/Watch',
];

/**
 * Per-message integrity of one process: the signer (keyring + canonical strings) and the nonce store.
 * Servers verify every request not in `exempt` and sign their responses; channels sign every request and
 * verify every unary response before parsing it.
 */
export interface MessageIntegrity {
  readonly signer: MessageSigner;
  readonly nonces: NonceStore;
  readonly exempt?: readonly string[];
  /**
   * DANGER, for proving that `zenmesh verify` notices a weakened service: the server accepts requests
   * whatever their signature. Never set in production; services log a loud warning when it is.
   */
  readonly insecureSkipVerify?: boolean;
}

export type IntegrityRefusal = RequestRefusal | 'replayed_nonce' | 'replay_store_unavailable';

export const isExempt = (integrity: MessageIntegrity, path: string) =>
  (integrity.exempt ?? INTEGRITY_EXEMPT).includes(path);

/** The request metadata carrying a signature. */
export const signatureMetadata = (sig: RequestSignature): Record<string, string> => ({
  [INTEGRITY_METADATA.signature]: `${sig.keyId}.${sig.timestamp}.${sig.nonce}.${sig.signature}`,
  ...(sig.headers === '' ? {} : { [INTEGRITY_METADATA.headers]: sig.headers }),
});

/** The four fields of a request's `x-zm-signature`, as received. */
export interface SignatureFields {
  keyId: string;
  timestamp: string;
  nonce: string;
  signature: string;
}

/**
 * Splits a received `x-zm-signature` into its fields: undefined when absent or empty (`missing_signature`),
 * 'malformed' when it is not four non-empty dot-separated fields (`bad_signature`). The fields are then
 * checked one by one by the signer, exactly as when they travelled apart.
 */
export function parseSignature(value: string | undefined): SignatureFields | 'malformed' | undefined {
  if (value === undefined || value === '') return undefined;
  const parts = value.split('.');
  if (parts.length !== 4 || parts.some((p) => p === '')) return 'malformed';
  const [keyId, timestamp, nonce, signature] = parts as [string, string, string, string];
  return { keyId, timestamp, nonce, signature };
}

/**
 * One signed call as both ends know it: the key version and nonce of the request, and the SPIFFE IDs of
 * its caller and server (each side's handshake proved the other's). Responses and error statuses are signed
 * with the reverse pair key, bound to these.
 */
export interface SignedCall {
  keyId: string;
  nonce: string;
  callerId: string;
  serverId: string;
}

/** Nonces live twice the window: a request stamped up to `window` in the future stays replayable that long. */
export const nonceTtlMs = (signer: MessageSigner) => 2 * signer.windowSeconds * 1000;

export type AdmitVerdict =
  | {
      ok: true;
      signed: SignedCall | undefined;
      /** The request metadata names the signature covered: the only ones a handler may read. */
      headers: readonly string[] | undefined;
    }
  | { ok: false; reason: IntegrityRefusal; cause?: unknown };

/** All values of one request metadata key (a key sent twice has two). */
export type MetadataValues = (name: string) => readonly string[];

/**
 * The server side, after the policy check: timestamp window → HMAC over the received bytes and covered
 * metadata → nonce claimed. `read(name)` returns one request metadata value, `readAll` every value.
 */
export async function admitMessage(
  integrity: MessageIntegrity,
  input: {
    path: string;
    callerId: string;
    serverId: string;
    body: Uint8Array;
    read: (name: string) => string | undefined;
    readAll: MetadataValues;
  },
): Promise<AdmitVerdict> {
  // Sent twice is refused like a malformed one: only one signature may speak for a request.
  const sent = input.readAll(INTEGRITY_METADATA.signature);
  const fields = sent.length > 1 ? 'malformed' : parseSignature(sent[0]);
  const { path, callerId, serverId } = input;
  if (integrity.insecureSkipVerify) {
    const signed =
      typeof fields === 'object'
        ? { keyId: fields.keyId, nonce: fields.nonce, callerId, serverId }
        : undefined;
    return { ok: true, signed, headers: undefined };
  }
  if (fields === 'malformed') return { ok: false, reason: 'bad_signature' };
  const headers = input.read(INTEGRITY_METADATA.headers);
  const verdict = integrity.signer.verifyRequest({
    path,
    callerId,
    serverId,
    body: input.body,
    signature: { ...fields, ...(headers === undefined ? {} : { headers }) },
    header: input.readAll,
  });
  if (!verdict.ok) return verdict;
  try {
    const fresh = await integrity.nonces.claim(verdict.nonce, nonceTtlMs(integrity.signer));
    if (!fresh) return { ok: false, reason: 'replayed_nonce' };
    const signed = { keyId: verdict.keyId, nonce: verdict.nonce, callerId, serverId };
    return { ok: true, signed, headers: verdict.headers };
  } catch (cause) {
    return { ok: false, reason: 'replay_store_unavailable', cause };
  }
}

/**
 * The signature of a unary answer (HMAC over its exact bytes) or of an error status (over code and reason),
 * with the server→caller pair key, bound to the request's key version and nonce.
 */
export const signResponse = (
  integrity: MessageIntegrity,
  path: string,
  signed: SignedCall,
  outcome: ResponseOutcome,
): string | undefined => integrity.signer.signResponse({ path, ...signed, outcome });

export interface MessageIntegrityOptions {
  /**
   * Holds this workload's own pair keys (message-keys.json), which are then the only keys used; or else — the
   * launcher, the CLI, tests — master.key and the cluster keyring file, from which any pair key is derived.
   */
  secretsDir: string;
  /** The trust domain: HMAC keys are per cluster. */
  cluster: string;
  /**
   * This process's service account and namespace: when given, a message-keys.json for another workload is
   * refused at start (ERR_KEYRING_INVALID), so a file mixed up between services fails loudly, not per call.
   */
  workload?: { service: string; namespace: string } | undefined;
  /** When set, nonces go to Redis (required as soon as more than one instance of a service runs). */
  redisUrl?: string | undefined;
  /** Default `zenmesh:<cluster>:nonce:`. */
  redisPrefix?: string | undefined;
  insecureSkipVerify?: boolean;
  reloadMs?: number;
  logger: Logger;
}

export interface RunningMessageIntegrity extends MessageIntegrity {
  close(): Promise<void>;
}

/**
 * Builds the integrity of a service from its configuration: its own pair keys (message-keys.json, when
 * present) or else the master key (validated, never logged) and the cluster keyring, both live
 * (docs/decisions/0004-per-pair-hmac-keys.md); nonce store (Redis when a URL is given, else in-process for a
 * single instance).
 */
export async function createMessageIntegrity(
  options: MessageIntegrityOptions,
): Promise<RunningMessageIntegrity> {
  const { logger } = options;
  const reload = {
    ...(options.reloadMs === undefined ? {} : { reloadMs: options.reloadMs }),
    onReload: (state: KeyringState) =>
      logger.info({ active: state.active, keys: state.keys }, 'HMAC keyring reloaded'),
    onReloadError: (err: unknown) =>
      logger.error({ err }, 'HMAC keyring unreadable; keeping the previous one'),
  };
  let keyring: MessageKeyring;
  let source: string;
  if (readWorkloadKeysFile(options.secretsDir)) {
    // Only this workload's pair keys: the master key is neither needed nor read for message integrity.
    const own = createWorkloadKeyring({
      secretsDir: options.secretsDir,
      cluster: options.cluster,
      ...reload,
    });
    const expected =
      options.workload &&
      spiffeIdFor(options.workload.service, {
        trustDomain: options.cluster,
        namespace: options.workload.namespace,
      });
    if (expected && own.workload !== expected) {
      throw new CryptoError(
        'ERR_KEYRING_INVALID',
        `${WORKLOAD_KEYS_FILE} in ${options.secretsDir} is for ${own.workload}, not ${expected}`,
      );
    }
    keyring = own;
    source = WORKLOAD_KEYS_FILE;
  } else {
    keyring = createMessageKeyring({
      masterKey: loadMasterKey(options.secretsDir),
      cluster: options.cluster,
      secretsDir: options.secretsDir,
      ...reload,
    });
    source = 'master.key';
  }
  logger.info({ active: keyring.state().active, source }, 'HMAC keyring loaded');
  let nonces: NonceStore;
  if (options.redisUrl) {
    let lastLogged = 0;
    nonces = createRedisNonceStore({
      url: options.redisUrl,
      prefix: options.redisPrefix ?? `zenmesh:${options.cluster}:nonce:`,
      onError: (err) => {
        // One line per 5 s at most: a Redis outage must be visible, not flood the log.
        if (Date.now() - lastLogged < 5000) return;
        lastLogged = Date.now();
        logger.error(
          { err: err.message },
          'Redis nonce store unreachable; refusing signed calls until it is back',
        );
      },
    });
    // Claims wait (bounded) for the connection themselves; this only makes an unreachable Redis visible.
    if (!(await nonces.waitUntilReady(5000))) {
      logger.error('Redis nonce store not reachable at start; calls are refused until it is');
    }
    logger.info('nonce store: Redis');
  } else {
    nonces = createMemoryNonceStore();
    logger.info('nonce store: in-process (single instance only; set REDIS_URL to run more than one)');
  }
  if (options.insecureSkipVerify) {
    logger.error(
      '!!! INSECURE: ZENMESH_INSECURE_DISABLE_HMAC=1 — this server accepts unsigned, forged and replayed messages. Never use outside tests. !!!',
    );
  }
  return {
    signer: createMessageSigner({ keyring }),
    nonces,
    ...(options.insecureSkipVerify ? { insecureSkipVerify: true } : {}),
    close: () => nonces.close(),
  };
}
