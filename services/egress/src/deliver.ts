import { timestampDate } from '@bufbuild/protobuf/wkt';
import type { LeasedDelivery } from '@zenmesh/proto';
import { type Dispatcher, request } from 'undici';
import { parseRetryAfter } from './retry-after.js';
import { signWebhook } from './webhook-signature.js';

/** What one attempt produced, as reported to the backend. */
export interface AttemptResult {
  ok: boolean;
  /** 0 when no HTTP response was received. */
  statusCode: number;
  error: string;
  durationMs: number;
  retryAfterS: number;
}

export interface DeliverOptions {
  dispatcher: Dispatcher;
  timeoutMs: number;
  /** Response bytes read before the body is dropped; the target's answer is never stored. */
  maxResponseBytes: number;
  /** Extra request headers, e.g. the W3C `traceparent` of the attempt's span. */
  headers?: Record<string, string>;
  /** Aborts the attempt (egress shutting down); the lease then expires and the backend offers it again. */
  signal?: AbortSignal;
  now?: () => Date;
}

const MAX_ERROR_CHARS = 500;

/**
 * CloudEvents HTTP binary mode percent-encodes header values outside printable ASCII, plus space, `"`
 * and `%` (https://github.com/cloudevents/spec/blob/v1.0.2/cloudevents/bindings/http-protocol-binding.md#3132-http-header-values).
 */
const ceHeaderValue = (value: string): string =>
  Array.from(Buffer.from(value, 'utf8'))
    .map((b) =>
      b > 0x20 && b < 0x7f && b !== 0x22 && b !== 0x25
        ? String.fromCharCode(b)
        : `%${b.toString(16).toUpperCase().padStart(2, '0')}`,
    )
    .join('');

const JSON_TYPE = /^application\/(?:[\w.+-]+\+)?json(?:\s*;.*)?$/i;

/**
 * The event as a CloudEvents JSON object (structured mode, JSON event format §3): `data` when the
 * payload is JSON, otherwise `data_base64`
 * (https://github.com/cloudevents/spec/blob/v1.0.2/cloudevents/formats/json-format.md#31-handling-of-data).
 */
export function structuredEvent(event: NonNullable<LeasedDelivery['event']>): Uint8Array {
  const ce: Record<string, unknown> = {
    specversion: '1.0',
    id: event.id,
    source: event.source,
    type: event.type,
    datacontenttype: event.datacontenttype || 'application/octet-stream',
  };
  if (event.time !== undefined) ce.time = timestampDate(event.time).toISOString();
  const bytes = Buffer.from(event.data);
  let parsed: { ok: true; value: unknown } | { ok: false } = { ok: false };
  if (JSON_TYPE.test(ce.datacontenttype as string)) {
    try {
      parsed = { ok: true, value: JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes)) };
    } catch {
      parsed = { ok: false };
    }
  }
  if (parsed.ok) ce.data = parsed.value;
  else ce.data_base64 = bytes.toString('base64');
  return Buffer.from(JSON.stringify(ce), 'utf8');
}

/**
 * The request of one delivery: its body, and headers carrying the Standard Webhooks signature (over
 * the exact body sent) and, in binary mode, the CloudEvents attributes as `ce-*` headers. Structured
 * mode sends the whole event as `application/cloudevents+json` instead.
 */
export function deliveryRequest(
  leased: LeasedDelivery,
  now: Date,
): { headers: Record<string, string>; body: Uint8Array } {
  const event = leased.event;
  if (event === undefined) throw new TypeError('leased delivery without an event');
  const structured = leased.cloudeventsMode === 'structured';
  const body = structured ? structuredEvent(event) : event.data;
  const timestamp = Math.floor(now.getTime() / 1000);
  // A connection's transformation may add headers (the backend refuses the ones set below); ours win.
  const headers: Record<string, string> = {
    ...leased.headers,
    'content-type': structured
      ? 'application/cloudevents+json; charset=utf-8'
      : event.datacontenttype || 'application/octet-stream',
    'user-agent': 'zenmesh-egress',
    // Standard Webhooks: the id is the event's, so every retry and replay carries the same idempotency key.
    'webhook-id': event.id,
    'webhook-timestamp': String(timestamp),
    'webhook-signature': signWebhook({ id: event.id, timestamp, body, secrets: leased.signingSecrets }),
  };
  if (!structured) {
    headers['ce-specversion'] = '1.0';
    headers['ce-id'] = ceHeaderValue(event.id);
    headers['ce-source'] = ceHeaderValue(event.source);
    headers['ce-type'] = ceHeaderValue(event.type);
    if (event.time !== undefined) headers['ce-time'] = timestampDate(event.time).toISOString();
  }
  return { headers, body };
}

/** The request headers of one delivery (see deliveryRequest). */
export const deliveryHeaders = (leased: LeasedDelivery, now: Date): Record<string, string> =>
  deliveryRequest(leased, now).headers;

const describe = (err: unknown): string => {
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code;
    const text =
      err.name === 'TimeoutError'
        ? 'timeout'
        : code === 'ERR_SSRF_BLOCKED'
          ? err.message
          : typeof code === 'string'
            ? `${code}: ${err.message}`
            : err.message;
    return text.slice(0, MAX_ERROR_CHARS);
  }
  return String(err).slice(0, MAX_ERROR_CHARS);
};

/**
 * POSTs one event to its endpoint (through the dispatcher, which enforces the SSRF address policy
 * and presents the endpoint's client certificate, if any). Redirects are not followed (a 3xx is a failed attempt: the endpoint
 * URL is what the customer registered); only a 2xx counts as delivered.
 */
export async function deliver(leased: LeasedDelivery, options: DeliverOptions): Promise<AttemptResult> {
  const { dispatcher, timeoutMs, maxResponseBytes, now = () => new Date() } = options;
  const started = performance.now();
  const elapsed = (): number => Math.round(performance.now() - started);
  let headers: Record<string, string>;
  let body: Uint8Array;
  try {
    const built = deliveryRequest(leased, now());
    headers = { ...options.headers, ...built.headers };
    body = built.body;
  } catch (err) {
    // Reported, not thrown: the backend then retries or dead-letters instead of re-leasing forever.
    return {
      ok: false,
      statusCode: 0,
      error: `cannot sign: ${describe(err)}`,
      durationMs: 0,
      retryAfterS: 0,
    };
  }
  const timeout = AbortSignal.timeout(timeoutMs);
  const signal = options.signal === undefined ? timeout : AbortSignal.any([timeout, options.signal]);
  try {
    const response = await request(leased.endpointUrl, {
      method: 'POST',
      body,
      headers,
      dispatcher,
      signal,
    });
    let read = 0;
    try {
      for await (const chunk of response.body) {
        read += (chunk as Buffer).length;
        if (read >= maxResponseBytes) break;
      }
    } catch {
      // The status line is the answer; a body cut short (or timed out) does not change it.
    } finally {
      if (!response.body.destroyed) response.body.destroy();
    }
    const { statusCode } = response;
    const ok = statusCode >= 200 && statusCode < 300;
    return {
      ok,
      statusCode,
      error: ok ? '' : `unexpected status ${statusCode}`,
      durationMs: elapsed(),
      retryAfterS: ok ? 0 : parseRetryAfter(response.headers['retry-after'], now()),
    };
  } catch (err) {
    return {
      ok: false,
      statusCode: 0,
      error: describe(timeout.aborted ? timeout.reason : err),
      durationMs: elapsed(),
      retryAfterS: 0,
    };
  }
}
