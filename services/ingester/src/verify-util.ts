import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import type { PayloadRefusal, SignatureRefusal, Verification } from './webhook-verifier.js';

export const HEX = /^[0-9a-f]+$/i;
// RFC 4648 §4 base64 with padding; base64url or whitespace is a malformed signature, not a near miss.
export const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
// Visible ASCII only: delivery ids and types are stored and later sent on as HTTP headers by egress.
const TOKEN = /^[\x21-\x7e]{1,200}$/;

export const refuse = (reason: SignatureRefusal): Verification => ({ ok: false, reason });
export const invalid = (reason: PayloadRefusal): Verification => ({ ok: false, reason, status: 400 });

/**
 * One header's value. A repeated header is ambiguous, so it reads as `null` (refused by the caller)
 * rather than picking one; an absent or empty one reads as undefined.
 */
export function header(headers: IncomingHttpHeaders, name: string): string | undefined | null {
  const value = headers[name];
  if (Array.isArray(value)) return value.length === 1 ? (value[0] ?? undefined) : null;
  return value === undefined || value === '' ? undefined : value;
}

/**
 * True when any candidate equals any expected digest. Every pair is compared in constant time with no
 * early exit, so the time taken tells neither which secret nor which signature matched.
 */
export function anyEqual(expected: readonly Buffer[], candidates: readonly Buffer[]): boolean {
  let matched = false;
  for (const e of expected) {
    for (const c of candidates) {
      if (c.length === e.length && timingSafeEqual(e, c)) matched = true;
    }
  }
  return matched;
}

/** Constant-time equality of two strings of any length: compares their SHA-256 digests. */
export function equalSecret(a: string, b: string): boolean {
  const da = createHash('sha256').update(a).digest();
  const db = createHash('sha256').update(b).digest();
  return timingSafeEqual(da, db);
}

/** Parses a Unix-seconds timestamp and checks it is within tolerance of now, both directions. */
export function checkTimestamp(
  text: string | undefined | null,
  nowMs: number,
  toleranceS: number,
): { ok: true; seconds: number } | { ok: false; reason: SignatureRefusal } {
  if (text === undefined) return { ok: false, reason: 'missing_timestamp' };
  if (text === null || !/^\d{1,12}$/.test(text)) return { ok: false, reason: 'malformed_timestamp' };
  const seconds = Number(text);
  if (Math.abs(nowMs / 1000 - seconds) > toleranceS)
    return { ok: false, reason: 'timestamp_out_of_tolerance' };
  return { ok: true, seconds };
}

/** The JSON object in an authentic body, or undefined when it is not one. */
export function jsonObject(body: Buffer): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(body.toString('utf8'));
    return typeof value === 'object' && value !== null && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}

export const isToken = (value: string): boolean => TOKEN.test(value);

/**
 * Finishes a verification: the delivery id and the provider's event name must be storable tokens.
 * `name` is the provider's own event name; the CloudEvents type is `prefix` + name.
 */
export function verified(input: {
  deliveryId: string | undefined | null;
  prefix: string;
  name: string | undefined | null;
  time?: Date | undefined;
}): Verification {
  const deliveryId = input.deliveryId ?? '';
  if (input.deliveryId === null || (deliveryId !== '' && !isToken(deliveryId))) {
    return invalid('invalid_delivery_id');
  }
  if (input.name === undefined || input.name === null || !isToken(input.name)) {
    return invalid('invalid_event_type');
  }
  const type = `${input.prefix}${input.name}`;
  if (type.length > 200) return invalid('invalid_event_type');
  return {
    ok: true,
    webhook: { deliveryId, type, ...(input.time === undefined ? {} : { time: input.time }) },
  };
}
