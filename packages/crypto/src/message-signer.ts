import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { MessageKeyring } from './message-keys.js';

/** ±300 s: how far a request's timestamp may be from the receiver's clock (DESIGN.md "Message integrity"). */
export const DEFAULT_WINDOW_SECONDS = 300;

/** The signature fields a request carries (as gRPC metadata). */
export interface RequestSignature {
  keyId: string;
  /** Unix time, seconds. */
  timestamp: string;
  /** 16 random bytes, base64url. */
  nonce: string;
  /** HMAC-SHA256 of the canonical request, base64url. */
  signature: string;
}

export type RequestRefusal = 'missing_signature' | 'unknown_key_id' | 'stale_timestamp' | 'bad_signature';

export type RequestVerdict =
  | { ok: true; keyId: string; nonce: string }
  | { ok: false; reason: RequestRefusal };

export interface RequestInput {
  /** Full method path, `/package.Service/Method`. */
  path: string;
  /** The caller's SPIFFE ID (the client's own; on the server, the one its TLS certificate proved). */
  callerId: string;
  /** The exact serialized request bytes sent or received; never a re-serialization. */
  body: Uint8Array;
}

export interface MessageSigner {
  readonly windowSeconds: number;
  signRequest(input: RequestInput): RequestSignature;
  /** Checks, in order: all fields present, key id known, timestamp in the window, HMAC (constant time). */
  verifyRequest(
    input: RequestInput & { signature: Partial<Record<keyof RequestSignature, string>> },
  ): RequestVerdict;
  /** Signs response bytes with the request's key version; undefined when that version is unknown here. */
  signResponse(input: { path: string; keyId: string; nonce: string; body: Uint8Array }): string | undefined;
  verifyResponse(input: {
    path: string;
    keyId: string;
    nonce: string;
    body: Uint8Array;
    signature: string;
  }): boolean;
}

const NONCE = /^[A-Za-z0-9_-]{22}$/;
const MAC = /^[A-Za-z0-9_-]{43}$/;
const TIMESTAMP = /^\d{1,12}$/;
const NO_NEWLINE = /^[^\n\r]+$/;

const sha256Hex = (body: Uint8Array) => createHash('sha256').update(body).digest('hex');

/**
 * The bytes a request HMAC covers: a version tag, then one field per line. No field may hold a line break
 * (checked), so the encoding is unambiguous. The body enters as its SHA-256, computed over the exact bytes.
 */
export function canonicalRequest(fields: {
  keyId: string;
  path: string;
  timestamp: string;
  nonce: string;
  callerId: string;
  body: Uint8Array;
}): string {
  for (const [name, value] of Object.entries(fields)) {
    if (name !== 'body' && !NO_NEWLINE.test(value as string)) {
      throw new TypeError(`canonicalRequest: ${name} is empty or holds a line break`);
    }
  }
  return [
    'zenmesh-rpc-request-v1',
    fields.keyId,
    fields.path,
    fields.timestamp,
    fields.nonce,
    fields.callerId,
    sha256Hex(fields.body),
  ].join('\n');
}

/** The bytes a response HMAC covers: bound to the request by its nonce, so no response can be moved. */
export function canonicalResponse(fields: {
  keyId: string;
  path: string;
  nonce: string;
  body: Uint8Array;
}): string {
  for (const [name, value] of Object.entries(fields)) {
    if (name !== 'body' && !NO_NEWLINE.test(value as string)) {
      throw new TypeError(`canonicalResponse: ${name} is empty or holds a line break`);
    }
  }
  return ['zenmesh-rpc-response-v1', fields.keyId, fields.path, fields.nonce, sha256Hex(fields.body)].join(
    '\n',
  );
}

const mac = (key: Uint8Array, text: string) => createHmac('sha256', key).update(text, 'utf8').digest();

/** Both sides are 32 bytes once decoded (the regexes above guarantee it), so timingSafeEqual applies as is. */
const macEquals = (expected: Buffer, given: string) => {
  const g = Buffer.from(given, 'base64url');
  return g.length === expected.length && timingSafeEqual(expected, g);
};

export function createMessageSigner(options: {
  keyring: MessageKeyring;
  windowSeconds?: number;
  clock?: () => number;
}): MessageSigner {
  const { keyring } = options;
  const windowSeconds = options.windowSeconds ?? DEFAULT_WINDOW_SECONDS;
  const clock = options.clock ?? Date.now;
  return {
    windowSeconds,
    signRequest({ path, callerId, body }) {
      const { keyId, key } = keyring.signingKey();
      const timestamp = String(Math.floor(clock() / 1000));
      const nonce = randomBytes(16).toString('base64url');
      const text = canonicalRequest({ keyId, path, timestamp, nonce, callerId, body });
      return { keyId, timestamp, nonce, signature: mac(key, text).toString('base64url') };
    },
    verifyRequest({ path, callerId, body, signature: s }) {
      const { keyId, timestamp, nonce, signature } = s;
      if (!keyId || !timestamp || !nonce || !signature) return { ok: false, reason: 'missing_signature' };
      const now = clock();
      const key = keyring.verificationKey(keyId, now);
      if (!key) return { ok: false, reason: 'unknown_key_id' };
      if (!TIMESTAMP.test(timestamp) || Math.abs(now / 1000 - Number(timestamp)) > windowSeconds) {
        return { ok: false, reason: 'stale_timestamp' };
      }
      if (
        !NONCE.test(nonce) ||
        !MAC.test(signature) ||
        !NO_NEWLINE.test(path) ||
        !NO_NEWLINE.test(callerId)
      ) {
        return { ok: false, reason: 'bad_signature' };
      }
      const expected = mac(key, canonicalRequest({ keyId, path, timestamp, nonce, callerId, body }));
      return macEquals(expected, signature)
        ? { ok: true, keyId, nonce }
        : { ok: false, reason: 'bad_signature' };
    },
    signResponse({ path, keyId, nonce, body }) {
      // The request's key version, not necessarily the active one: the caller may not have reloaded yet.
      const key = keyring.verificationKey(keyId);
      if (!key || !NONCE.test(nonce)) return undefined;
      return mac(key, canonicalResponse({ keyId, path, nonce, body })).toString('base64url');
    },
    verifyResponse({ path, keyId, nonce, body, signature }) {
      const key = keyring.verificationKey(keyId);
      if (!key || !MAC.test(signature)) return false;
      return macEquals(mac(key, canonicalResponse({ keyId, path, nonce, body })), signature);
    },
  };
}
