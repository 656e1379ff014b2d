import type { IncomingHttpHeaders } from 'node:http';

/** Why a webhook's signature was refused; logged and counted, never shown to the sender. */
export type SignatureRefusal =
  | 'missing_signature'
  | 'malformed_signature'
  | 'signature_mismatch'
  | 'no_secrets'
  | 'unsupported_scheme'
  | 'missing_timestamp'
  | 'malformed_timestamp'
  | 'timestamp_out_of_tolerance';

/** Why an authentic webhook still cannot be stored; answered 400 with the reason as the error. */
export type PayloadRefusal = 'invalid_event_type' | 'invalid_delivery_id' | 'invalid_payload';

/** What one verification needs: the exact bytes received and the source's material. */
export interface VerifyInput {
  headers: IncomingHttpHeaders;
  body: Buffer;
  /** Current secret first, the previous one next during a rotation. */
  secrets: readonly string[];
  /** Now, in milliseconds since the epoch; injected so tolerance tests can freeze the clock. */
  nowMs: number;
  /** Allowed distance between a signed timestamp and now, both directions. */
  toleranceS: number;
}

/** What an authentic webhook says about itself, before it becomes a CloudEvent. */
export interface VerifiedWebhook {
  /** The provider's delivery id, '' when it sends none (then there is no deduplication). */
  deliveryId: string;
  /** The CloudEvents `type`, already derived from the provider's event header or payload. */
  type: string;
  /** When the provider signed or created it, if the scheme says; else the ingester uses receipt time. */
  time?: Date;
  /** A protocol handshake to answer with 200 and this body instead of storing anything (Slack). */
  handshake?: Record<string, string>;
}

export type Verification =
  | { ok: true; webhook: VerifiedWebhook }
  | { ok: false; reason: SignatureRefusal }
  | { ok: false; reason: PayloadRefusal; status: 400 };

/** One provider's scheme: verifies the raw request and names the event. */
export interface WebhookVerifier {
  readonly provider: string;
  /**
   * True when the signature covers the delivery id (Stripe's body `id`, Standard Webhooks' `webhook-id`), so a
   * replay cannot come back under a new one. When false, the ingester also deduplicates on SHA-256 of
   * (source, raw body) over a window: an attacker can change an unsigned id, not the signed bytes.
   */
  readonly signsDeliveryId: boolean;
  verify(input: VerifyInput): Verification;
}
