/**
 * The webhook providers a source may name: the backend accepts exactly these for `Source.provider`, and the
 * ingester has a verifier for each (its verifier table is typed over `ProviderName`, so a name added here
 * without a verifier does not compile). `svix` is an alias of `standard-webhooks`.
 */
export const PROVIDERS = [
  'generic',
  'github',
  'stripe',
  'slack',
  'shopify',
  'gitlab',
  'standard-webhooks',
  'svix',
] as const;

export type ProviderName = (typeof PROVIDERS)[number];

const NAMES: ReadonlySet<string> = new Set(PROVIDERS);

export const isProviderName = (name: string): name is ProviderName => NAMES.has(name);

/** Providers whose secret is a Standard Webhooks `whsec_<base64 key>` (not Stripe: its whsec_ is text). */
export const WHSEC_PROVIDERS: ReadonlySet<ProviderName> = new Set(['standard-webhooks', 'svix']);

/** Signed-timestamp tolerance when a source sets none (Stripe, Slack, Standard Webhooks all say 300 s). */
export const DEFAULT_TOLERANCE_S = 300;
export const MAX_TOLERANCE_S = 3600;

/** How a generic HMAC source signs: header, digest, encoding, prefix, and the optional extra headers. */
export interface GenericHmacConfig {
  header: string;
  algorithm: 'sha256' | 'sha512';
  encoding: 'hex' | 'base64';
  prefix: string;
  /**
   * The header holding the signed Unix-seconds timestamp (HMAC over `<ts>.<body>`; default `x-timestamp`), or ''
   * when the sender signs the body alone — an explicit opt-out, chosen at creation.
   */
  timestampHeader: string;
  /** '' = the ingester's default (`x-event-type`). */
  eventTypeHeader: string;
  /** '' = the ingester's defaults (`x-delivery-id`, then `webhook-id`). */
  deliveryIdHeader: string;
}

/** What a generic source gets for every field it leaves empty (backend.proto documents the same). */
export const GENERIC_DEFAULTS: GenericHmacConfig = {
  header: 'x-signature',
  algorithm: 'sha256',
  encoding: 'hex',
  prefix: 'sha256=',
  timestampHeader: 'x-timestamp',
  eventTypeHeader: '',
  deliveryIdHeader: '',
};
