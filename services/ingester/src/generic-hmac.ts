import { timingSafeEqual } from 'node:crypto';
import { hmac } from '@zenmesh/crypto';
import type { GenericHmacConfig } from '@zenmesh/proto';

/** Why a webhook's signature was refused; logged and counted, never shown to the sender. */
export type SignatureRefusal =
  | 'missing_signature'
  | 'malformed_signature'
  | 'signature_mismatch'
  | 'no_secrets'
  | 'unsupported_scheme';

export type SignatureCheck = { ok: true } | { ok: false; reason: SignatureRefusal };

/** The verification scheme of a generic HMAC source with the documented defaults applied. */
export interface GenericScheme {
  header: string;
  algorithm: 'sha256' | 'sha512';
  encoding: 'hex' | 'base64';
  prefix: string;
}

const DIGEST_BYTES = { sha256: 32, sha512: 64 } as const;
const HEX = /^[0-9a-f]+$/i;
// RFC 4648 §4 base64 with padding; base64url or whitespace is a malformed signature, not a near miss.
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/**
 * Applies the defaults documented in backend.proto. An absent config means all defaults; a present one
 * with an empty prefix means "no prefix"; an unset one (proto3 `optional`) means the default `sha256=`.
 */
export function resolveScheme(config: GenericHmacConfig | undefined): GenericScheme | undefined {
  const algorithm = config?.algorithm || 'sha256';
  const encoding = config?.encoding || 'hex';
  if (algorithm !== 'sha256' && algorithm !== 'sha512') return undefined;
  if (encoding !== 'hex' && encoding !== 'base64') return undefined;
  return {
    header: (config?.header || 'x-signature').toLowerCase(),
    algorithm,
    encoding,
    prefix: config?.prefix ?? 'sha256=',
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
 * Verifies a generic HMAC signature over the exact bytes received. Every secret is tried (rotation: the
 * sender may still sign with the previous one) and compared in constant time over equal-length buffers.
 */
export function verifyGenericHmac(input: {
  scheme: GenericScheme;
  secrets: readonly string[];
  signatureHeader: string | string[] | undefined;
  body: Uint8Array;
}): SignatureCheck {
  const { scheme, secrets, signatureHeader, body } = input;
  if (secrets.length === 0) return { ok: false, reason: 'no_secrets' };
  if (signatureHeader === undefined || signatureHeader === '')
    return { ok: false, reason: 'missing_signature' };
  // A repeated header is ambiguous: refuse rather than pick one.
  if (Array.isArray(signatureHeader)) return { ok: false, reason: 'malformed_signature' };
  const received = decodeSignature(signatureHeader.trim(), scheme);
  if (received === undefined) return { ok: false, reason: 'malformed_signature' };
  let matched = false;
  for (const secret of secrets) {
    const expected = hmac(scheme.algorithm, secret, body);
    // No early exit: the time taken does not tell which secret matched.
    if (timingSafeEqual(expected, received)) matched = true;
  }
  return matched ? { ok: true } : { ok: false, reason: 'signature_mismatch' };
}
