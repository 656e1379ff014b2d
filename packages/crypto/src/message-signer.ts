import { createHmac, type KeyObject, randomFillSync, timingSafeEqual } from 'node:crypto';
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
  /** The covered metadata names, sorted, comma-separated; '' when none. */
  headers: string;
}

export type RequestRefusal =
  | 'missing_signature'
  | 'unknown_key_id'
  | 'no_pair_key'
  | 'stale_timestamp'
  | 'bad_signature';

export type RequestVerdict =
  | { ok: true; keyId: string; nonce: string; headers: readonly string[] }
  | { ok: false; reason: RequestRefusal };

export interface RequestInput {
  /** Full method path, `/package.Service/Method`. */
  path: string;
  /** The caller's SPIFFE ID (the client's own; on the server, the one its TLS certificate proved). */
  callerId: string;
  /** The server's SPIFFE ID (the one the client's handshake proved; on the server, its own). */
  serverId: string;
  /** The exact serialized request bytes sent or received; never a re-serialization. */
  body: Uint8Array;
}

/** The outcome a response signature covers: OK with its exact bytes, or a status code and its reason. */
export type ResponseOutcome = { code: 0; body: Uint8Array } | { code: number; reason: string };

export interface ResponseInput {
  path: string;
  callerId: string;
  serverId: string;
  /** The key version and nonce of the request this answers. */
  keyId: string;
  nonce: string;
  outcome: ResponseOutcome;
}

export interface MessageSigner {
  readonly windowSeconds: number;
  /** `headers`: request metadata the receiver may act on; every one is covered (name and value). */
  signRequest(input: RequestInput & { headers?: Readonly<Record<string, string>> }): RequestSignature;
  /**
   * Checks, in order: all fields present, key id known, timestamp in the window, covered metadata
   * well-formed, HMAC (constant time). `header(name)` gives every value of one request metadata key.
   */
  verifyRequest(
    input: RequestInput & {
      signature: Partial<Record<keyof RequestSignature, string>>;
      header?: (name: string) => readonly string[];
    },
  ): RequestVerdict;
  /** Signs a response (success or error) with the request's key version; undefined when it is unknown here. */
  signResponse(input: ResponseInput): string | undefined;
  verifyResponse(input: ResponseInput & { signature: string }): boolean;
}

const NONCE = /^[A-Za-z0-9_-]{22}$/;
const MAC = /^[A-Za-z0-9_-]{43}$/;
const TIMESTAMP = /^\d{1,12}$/;
const NO_NEWLINE = /^[^\n\r]+$/;
/**
 * A coverable metadata name: lower-case ASCII, not binary (`-bin`), not gRPC's own (`grpc-`), not ours
 * (`x-zm-`). Values are printable ASCII (HTTP/2 header values), so `name:value` lines are unambiguous.
 */
const HEADER_NAME = /^(?!grpc-|x-zm-)[a-z0-9][a-z0-9._-]{0,63}$/;
const HEADER_VALUE = /^[\x20-\x7e]{0,8192}$/;
const MAX_HEADERS = 16;

const checkLines = (what: string, fields: Record<string, unknown>) => {
  for (const name in fields) {
    const value = fields[name];
    if (typeof value === 'string' && !NO_NEWLINE.test(value)) {
      throw new TypeError(`${what}: ${name} is empty or holds a line break`);
    }
  }
};

/**
 * 16 random bytes as base64url, cut from a pool refilled 256 nonces at a time: one CSPRNG call per 4 KiB
 * instead of one per message (the per-call `randomBytes(16)` showed in the rpc bench profile).
 */
const pool = Buffer.alloc(16 * 256);
let poolOffset = pool.length;
function newNonce(): string {
  if (poolOffset >= pool.length) {
    randomFillSync(pool);
    poolOffset = 0;
  }
  const nonce = pool.toString('base64url', poolOffset, poolOffset + 16);
  poolOffset += 16;
  return nonce;
}

/** True when `name` may be covered by a request signature (and so be read by a handler). */
export const isCoverableHeader = (name: string) => HEADER_NAME.test(name) && !name.endsWith('-bin');

/**
 * The text a request HMAC covers before the body: a version tag, then one field per line, each ending in a
 * line break. No field may hold a line break (checked) and the number of lines is fixed by the list of covered
 * names, so the encoding is unambiguous; the exact request bytes follow it as they are (the HMAC is over
 * `canonicalRequest(...) + body`). `headers` are the covered metadata, one `name:value` line each in sorted
 * order after the list of their names.
 */
export function canonicalRequest(fields: {
  keyId: string;
  path: string;
  timestamp: string;
  nonce: string;
  callerId: string;
  serverId: string;
  headers: readonly (readonly [string, string])[];
}): string {
  const { headers, ...lines } = fields;
  checkLines('canonicalRequest', lines);
  for (const [name, value] of headers) {
    if (!isCoverableHeader(name)) throw new TypeError(`canonicalRequest: metadata ${name} cannot be covered`);
    if (!HEADER_VALUE.test(value)) throw new TypeError(`canonicalRequest: metadata ${name} is not printable`);
  }
  return [
    'zenmesh-rpc-request-v2',
    fields.keyId,
    fields.path,
    fields.timestamp,
    fields.nonce,
    fields.callerId,
    fields.serverId,
    headers.map(([name]) => name).join(','),
    ...headers.map(([name, value]) => `${name}:${value}`),
    '',
  ].join('\n');
}

/**
 * The text a response HMAC covers before its bytes: bound to the request by its key id, nonce and both SPIFFE
 * IDs, so no response can be moved to another call, then the status code. An answer's exact bytes follow; an
 * error is covered as its code and its reason (URI-encoded, so it is one line, and nothing follows), which
 * makes an unsigned or altered refusal detectable like an altered answer.
 */
export function canonicalResponse(
  fields: Omit<ResponseInput, 'outcome'> & { outcome: ResponseOutcome },
): string {
  const { outcome, ...lines } = fields;
  checkLines('canonicalResponse', lines);
  return [
    'zenmesh-rpc-response-v2',
    fields.keyId,
    fields.path,
    fields.nonce,
    fields.callerId,
    fields.serverId,
    String(outcome.code),
    'body' in outcome ? '' : `${encodeURIComponent(outcome.reason)}\n`,
  ].join('\n');
}

/** HMAC-SHA256 of the canonical text followed by the exact message bytes (none for an error status). */
const mac = (key: KeyObject, text: string, body?: Uint8Array) => {
  const h = createHmac('sha256', key).update(text, 'utf8');
  if (body) h.update(body);
  return h.digest();
};
const bodyOf = (outcome: ResponseOutcome) => ('body' in outcome ? outcome.body : undefined);

/** Both sides are 32 bytes once decoded (the regexes above guarantee it), so timingSafeEqual applies as is. */
const macEquals = (expected: Buffer, given: string) => {
  const g = Buffer.from(given, 'base64url');
  return g.length === expected.length && timingSafeEqual(expected, g);
};

/** The covered metadata of a request, sorted by name; undefined when the list or a value is malformed. */
function coveredHeaders(
  list: string,
  header: ((name: string) => readonly string[]) | undefined,
): [string, string][] | undefined {
  if (list === '') return [];
  const names = list.split(',');
  if (names.length > MAX_HEADERS || !header) return undefined;
  const out: [string, string][] = [];
  for (const [i, name] of names.entries()) {
    // Sorted and unique, so one list has one meaning; exactly one value, so no value can hide behind another.
    if (!isCoverableHeader(name) || (i > 0 && (names[i - 1] as string) >= name)) return undefined;
    const values = header(name);
    if (values.length !== 1 || !HEADER_VALUE.test(values[0] as string)) return undefined;
    out.push([name, values[0] as string]);
  }
  return out;
}

export function createMessageSigner(options: {
  keyring: MessageKeyring;
  windowSeconds?: number;
  clock?: () => number;
}): MessageSigner {
  const { keyring } = options;
  const windowSeconds = options.windowSeconds ?? DEFAULT_WINDOW_SECONDS;
  const clock = options.clock ?? Date.now;
  // A response goes from the server to the caller: the reverse pair of its request.
  const responseKey = (i: ResponseInput) =>
    NONCE.test(i.nonce)
      ? keyring.verificationKey(i.keyId, { sender: i.serverId, receiver: i.callerId })
      : undefined;
  return {
    windowSeconds,
    signRequest({ path, callerId, serverId, body, headers = {} }) {
      const { keyId, key } = keyring.signingKey({ sender: callerId, receiver: serverId });
      const timestamp = String(Math.floor(clock() / 1000));
      const nonce = newNonce();
      const covered = Object.entries(headers).sort(([a], [b]) => (a < b ? -1 : 1));
      if (covered.length > MAX_HEADERS)
        throw new TypeError(`signRequest: more than ${MAX_HEADERS} metadata keys`);
      const text = canonicalRequest({
        keyId,
        path,
        timestamp,
        nonce,
        callerId,
        serverId,
        headers: covered,
      });
      return {
        keyId,
        timestamp,
        nonce,
        signature: mac(key, text, body).toString('base64url'),
        headers: covered.map(([name]) => name).join(','),
      };
    },
    verifyRequest({ path, callerId, serverId, body, signature: s, header }) {
      const { keyId, timestamp, nonce, signature } = s;
      if (!keyId || !timestamp || !nonce || !signature) return { ok: false, reason: 'missing_signature' };
      const now = clock();
      if (!NO_NEWLINE.test(callerId) || !NO_NEWLINE.test(serverId))
        return { ok: false, reason: 'bad_signature' };
      const key = keyring.verificationKey(keyId, { sender: callerId, receiver: serverId }, now);
      // A live version without a key for this pair: this workload was given no key for that caller.
      if (!key) return { ok: false, reason: keyring.verifies(keyId, now) ? 'no_pair_key' : 'unknown_key_id' };
      if (!TIMESTAMP.test(timestamp) || Math.abs(now / 1000 - Number(timestamp)) > windowSeconds) {
        return { ok: false, reason: 'stale_timestamp' };
      }
      const headers = coveredHeaders(s.headers ?? '', header);
      if (!headers || !NONCE.test(nonce) || !MAC.test(signature) || !NO_NEWLINE.test(path)) {
        return { ok: false, reason: 'bad_signature' };
      }
      const text = canonicalRequest({ keyId, path, timestamp, nonce, callerId, serverId, headers });
      return macEquals(mac(key, text, body), signature)
        ? { ok: true, keyId, nonce, headers: headers.map(([name]) => name) }
        : { ok: false, reason: 'bad_signature' };
    },
    signResponse(input) {
      // The request's key version, not necessarily the active one: the caller may not have reloaded yet.
      const key = responseKey(input);
      return key && mac(key, canonicalResponse(input), bodyOf(input.outcome)).toString('base64url');
    },
    verifyResponse(input) {
      const key = responseKey(input);
      if (!key || !MAC.test(input.signature)) return false;
      const { signature, ...fields } = input;
      return macEquals(mac(key, canonicalResponse(fields), bodyOf(fields.outcome)), signature);
    },
  };
}
