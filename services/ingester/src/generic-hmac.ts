import { hmac } from '@zenmesh/crypto';
import { DEFAULT_TOLERANCE_S, GENERIC_DEFAULTS } from '@zenmesh/providers';
import { anyEqual, BASE64, checkTimestamp, HEX, header, refuse, verified } from './verify-util.js';
import type { SignatureRefusal, VerifyInput, WebhookVerifier } from './webhook-verifier.js';

export type SignatureCheck = { ok: true } | { ok: false; reason: SignatureRefusal };

/** How a generic HMAC source is signed, as the backend's `GenericHmacConfig` says (read structurally). */
export interface GenericHmacSettings {
  header?: string;
  algorithm?: string;
  encoding?: string;
  prefix?: string | undefined;
  timestampHeader?: string | undefined;
  eventTypeHeader?: string | undefined;
  deliveryIdHeader?: string | undefined;
}

/** The verification scheme of a generic HMAC source with the documented defaults applied. */
export interface GenericScheme {
  header: string;
  algorithm: 'sha256' | 'sha512';
  encoding: 'hex' | 'base64';
  prefix: string;
  /** '' when the sender signs the body alone; else the header holding the signed Unix-seconds timestamp. */
  timestampHeader: string;
  eventTypeHeader: string;
  /** Tried in order; the first present one is the delivery id. */
  deliveryIdHeaders: readonly string[];
}

const DIGEST_BYTES = { sha256: 32, sha512: 64 } as const;

/**
 * Applies the defaults documented in backend.proto. An absent config means all defaults; a present one
 * with an empty prefix means "no prefix"; an unset one (proto3 `optional`) means the default `sha256=`.
 */
export function resolveScheme(config: GenericHmacSettings | undefined): GenericScheme | undefined {
  const algorithm = config?.algorithm || 'sha256';
  const encoding = config?.encoding || 'hex';
  if (algorithm !== 'sha256' && algorithm !== 'sha512') return undefined;
  if (encoding !== 'hex' && encoding !== 'base64') return undefined;
  const delivery = config?.deliveryIdHeader?.toLowerCase();
  return {
    header: (config?.header || 'x-signature').toLowerCase(),
    algorithm,
    encoding,
    prefix: config?.prefix ?? 'sha256=',
    // Unset is the documented default (a signed timestamp); only an explicit '' signs the body alone.
    timestampHeader: (config?.timestampHeader ?? GENERIC_DEFAULTS.timestampHeader).toLowerCase(),
    eventTypeHeader: (config?.eventTypeHeader || 'x-event-type').toLowerCase(),
    deliveryIdHeaders: delivery ? [delivery] : ['x-delivery-id', 'webhook-id'],
  };
}

/** Decodes the signature value into digest bytes, or undefined when it cannot be a digest of this scheme. */
function decodeSignature(value: string, scheme: GenericScheme): Buffer | undefined {
  if (!value.startsWith(scheme.prefix)) return undefined;
  const text = value.slice(scheme.prefix.length);
  const expected = DIGEST_BYTES[scheme.algorithm];
  if (scheme.encoding === 'hex') {
    if (text.length !== expected * 2 || !HEX.test(text)) return undefined;
    return Buffer.from(text, 'hex');
  }
  if (!BASE64.test(text)) return undefined;
  const bytes = Buffer.from(text, 'base64');
  return bytes.length === expected ? bytes : undefined;
}

/**
 * Verifies a generic HMAC signature over the exact bytes received — `<timestamp>.<body>` when the scheme
 * names a timestamp header, the body alone otherwise. Every secret is tried (rotation) and compared in
 * constant time over equal-length buffers.
 */
export function verifyGenericHmac(input: {
  scheme: GenericScheme;
  secrets: readonly string[];
  signatureHeader: string | string[] | undefined;
  body: Uint8Array;
  timestampHeader?: string | string[] | undefined;
  nowMs?: number;
  toleranceS?: number;
}): SignatureCheck {
  const { scheme, secrets, signatureHeader, body } = input;
  if (secrets.length === 0) return { ok: false, reason: 'no_secrets' };
  const value = header({ s: signatureHeader }, 's');
  if (value === undefined) return { ok: false, reason: 'missing_signature' };
  if (value === null) return { ok: false, reason: 'malformed_signature' };
  const received = decodeSignature(value.trim(), scheme);
  if (received === undefined) return { ok: false, reason: 'malformed_signature' };
  let signed: Uint8Array = body;
  if (scheme.timestampHeader !== '') {
    const ts = header({ t: input.timestampHeader }, 't');
    const stamp = checkTimestamp(ts, input.nowMs ?? Date.now(), input.toleranceS ?? DEFAULT_TOLERANCE_S);
    if (!stamp.ok) return stamp;
    signed = Buffer.concat([Buffer.from(`${ts}.`), body]);
  }
  const expected = secrets.map((secret) => hmac(scheme.algorithm, secret, signed));
  return anyEqual(expected, [received]) ? { ok: true } : { ok: false, reason: 'signature_mismatch' };
}

/** A generic HMAC source as a verifier; the type comes from its event header (default `webhook.received`). */
export function createGenericVerifier(scheme: GenericScheme): WebhookVerifier {
  return {
    provider: 'generic',
    // The delivery id is a header outside the HMAC, with or without a timestamp.
    signsDeliveryId: false,
    verify({ headers, body, secrets, nowMs, toleranceS }: VerifyInput) {
      const check = verifyGenericHmac({
        scheme,
        secrets,
        body,
        signatureHeader: headers[scheme.header],
        timestampHeader: scheme.timestampHeader === '' ? undefined : headers[scheme.timestampHeader],
        nowMs,
        toleranceS,
      });
      if (!check.ok) return refuse(check.reason);
      let deliveryId: string | undefined | null;
      for (const name of scheme.deliveryIdHeaders) {
        deliveryId = header(headers, name);
        if (deliveryId !== undefined) break;
      }
      const ts = scheme.timestampHeader === '' ? undefined : header(headers, scheme.timestampHeader);
      return verified({
        deliveryId,
        prefix: '',
        name: header(headers, scheme.eventTypeHeader) ?? 'webhook.received',
        time: typeof ts === 'string' ? new Date(Number(ts) * 1000) : undefined,
      });
    },
  };
}
