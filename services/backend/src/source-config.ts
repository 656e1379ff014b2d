import {
  GENERIC_DEFAULTS,
  type GenericHmacConfig,
  isProviderName,
  MAX_TOLERANCE_S,
  WHSEC_PROVIDERS,
} from '@zenmesh/providers';
import { invalid } from './errors.js';

/**
 * As sent by a caller: empty or absent fields take the defaults, except prefix and timestampHeader, where an
 * explicit '' means "none" (see normaliseGeneric).
 */
export type GenericHmacInput = { [K in keyof GenericHmacConfig]?: string | undefined };

// RFC 9110 §5.1 field-name token characters, lower-cased.
const FIELD_NAME = /^[a-z0-9!#$%&'*+.^_`|~-]{1,100}$/;

/** An optional header name: '' stays '' (the ingester's default), anything else must be a valid field name. */
function optionalHeader(value: string | undefined, reason: string): string {
  const v = (value ?? '').toLowerCase();
  if (v !== '' && !FIELD_NAME.test(v)) throw invalid(reason);
  return v;
}

/**
 * Empty fields take the defaults; anything set must be one of the supported values. An absent timestamp header
 * is the default `x-timestamp`; an explicit '' signs the body alone (stored as such, so a source created before
 * the default changed keeps its scheme).
 */
export function normaliseGeneric(input: GenericHmacInput | undefined): GenericHmacConfig {
  const pick = (k: 'header' | 'algorithm' | 'encoding'): string => {
    const v = input?.[k];
    return v === undefined || v === '' ? GENERIC_DEFAULTS[k] : v;
  };
  const header = pick('header').toLowerCase();
  const algorithm = pick('algorithm');
  const encoding = pick('encoding');
  // An explicit empty prefix means "no prefix"; only an absent one takes the default.
  const prefix = input?.prefix ?? GENERIC_DEFAULTS.prefix;
  if (!FIELD_NAME.test(header)) throw invalid('invalid_generic_header');
  if (algorithm !== 'sha256' && algorithm !== 'sha512') throw invalid('invalid_generic_algorithm');
  if (encoding !== 'hex' && encoding !== 'base64') throw invalid('invalid_generic_encoding');
  // Header values arrive as visible ASCII with surrounding whitespace stripped (RFC 9110 §5.5), so a prefix
  // that starts with a space or holds anything else could never match: refuse it rather than store a source
  // that refuses every webhook.
  if (prefix.length > 32 || !/^(?:[\x21-\x7e][\x20-\x7e]*)?$/.test(prefix)) {
    throw invalid('invalid_generic_prefix');
  }
  return {
    header,
    algorithm,
    encoding,
    prefix,
    // Signed timestamps by default; only an explicit '' opts out (the sender signs the body alone).
    timestampHeader:
      input?.timestampHeader === undefined
        ? GENERIC_DEFAULTS.timestampHeader
        : optionalHeader(input.timestampHeader, 'invalid_generic_timestamp_header'),
    eventTypeHeader: optionalHeader(input?.eventTypeHeader, 'invalid_generic_event_type_header'),
    deliveryIdHeader: optionalHeader(input?.deliveryIdHeader, 'invalid_generic_delivery_id_header'),
  };
}

const STRICT_BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/**
 * A provider's secret: non-empty, at most 4096 characters; Standard Webhooks / Svix secrets are
 * `whsec_` + base64 of at least 16 bytes (the spec's key is 24-64 bytes;
 * https://github.com/standard-webhooks/standard-webhooks/blob/main/spec/standard-webhooks.md#symmetric-signatures).
 */
export function validateSourceSecret(provider: string, secret: string): string {
  if (secret.length === 0) throw invalid('empty_secret');
  if (secret.length > 4096) throw invalid('secret_too_long');
  if (isProviderName(provider) && WHSEC_PROVIDERS.has(provider)) {
    const key = secret.startsWith('whsec_') ? secret.slice('whsec_'.length) : undefined;
    if (key === undefined || !STRICT_BASE64.test(key) || Buffer.from(key, 'base64').length < 16) {
      throw invalid('invalid_whsec_secret');
    }
  }
  return secret;
}

/** A source's timestamp tolerance: 0 (the default) up to MAX_TOLERANCE_S, whole seconds. */
export function validateTolerance(value: number | undefined): number {
  const t = value ?? 0;
  if (!Number.isInteger(t) || t < 0 || t > MAX_TOLERANCE_S) throw invalid('invalid_tolerance_seconds');
  return t;
}
