// Property tests (fast-check, fixed seeds) for every provider's signature-header parser, the ingester's
// untrusted edge. For each provider: whatever headers and body arrive, the verifier answers with one of its
// documented refusals and never throws; it accepts exactly what the provider's own library signs
// (@octokit/webhooks-methods, stripe, standardwebhooks, svix; Slack, Shopify and GitLab publish no signing
// package, so their documented formulas stand in), and any change to the signed bytes, the signature or the
// timestamp is refused with its exact reason.
import { createHmac } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { sign as githubSign } from '@octokit/webhooks-methods';
import fc from 'fast-check';
import { Webhook as StandardWebhook } from 'standardwebhooks';
import Stripe from 'stripe';
import { Webhook as SvixWebhook } from 'svix';
import { describe, expect, it } from 'vitest';
import { resolveVerifier } from './providers.js';
import type { Verification, WebhookVerifier } from './webhook-verifier.js';

const SEED = 0x5eed_1205;
const RUNS = { seed: SEED, numRuns: 300 };
const NOW_MS = 1_700_000_000_000;
const NOW_S = NOW_MS / 1000;
const TOLERANCE_S = 300;

const SIGNATURE_REFUSALS = [
  'missing_signature',
  'malformed_signature',
  'signature_mismatch',
  'no_secrets',
  'missing_timestamp',
  'malformed_timestamp',
  'timestamp_out_of_tolerance',
];
const PAYLOAD_REFUSALS = ['invalid_event_type', 'invalid_delivery_id', 'invalid_payload'];

const verifierOf = (provider: string, generic?: Record<string, string>): WebhookVerifier => {
  const v = resolveVerifier({ provider, ...(generic ? { generic } : {}) });
  if (v === undefined) throw new TypeError(`no verifier for ${provider}`);
  return v;
};

/** The verifier's answer, as `ok <type> <deliveryId>` or its refusal reason; a throw fails the property. */
function answer(v: WebhookVerifier, headers: IncomingHttpHeaders, body: Buffer, secrets: string[]): string {
  let r: Verification;
  try {
    r = v.verify({ headers, body, secrets, nowMs: NOW_MS, toleranceS: TOLERANCE_S });
  } catch (err) {
    throw new Error(`${v.provider} threw on ${JSON.stringify(headers)}: ${String(err)}`);
  }
  if (r.ok) return `ok ${r.webhook.type} ${r.webhook.deliveryId}`;
  return r.reason;
}

const token = fc.string({
  unit: fc.constantFrom(...'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.:'.split('')),
  minLength: 1,
  maxLength: 40,
});
const secret = fc.string({ minLength: 1, maxLength: 64 });
const whsec = fc
  .uint8Array({ minLength: 16, maxLength: 48 })
  .map((b) => `whsec_${Buffer.from(b).toString('base64')}`);
const anyValue = fc.oneof(
  fc.string({ maxLength: 120 }),
  fc.string({ unit: fc.constantFrom(...'0123456789abcdefABCDEF=,.v1t sha256:/+'.split('')), maxLength: 120 }),
  fc.array(fc.string({ maxLength: 40 }), { minLength: 2, maxLength: 3 }),
);
const rawBody = fc.oneof(
  fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.from(b)),
  fc.json().map((j) => Buffer.from(j)),
);
/** Arbitrary values for exactly the headers a provider reads, plus noise. */
const headersOver = (names: string[]) =>
  fc.dictionary(fc.constantFrom(...names, 'content-type', 'x-noise'), anyValue, {
    maxKeys: names.length + 2,
  });

/** One byte of the body changed. */
const flipped = (body: Buffer, at: number) => {
  const b = Buffer.from(body.length ? body : Buffer.from(' '));
  const i = at % b.length;
  b[i] = (b[i] as number) ^ 0x01;
  return b;
};

const PROVIDERS: Array<{ provider: string; headers: string[]; generic?: Record<string, string> }> = [
  { provider: 'github', headers: ['x-hub-signature-256', 'x-github-event', 'x-github-delivery'] },
  { provider: 'stripe', headers: ['stripe-signature'] },
  { provider: 'slack', headers: ['x-slack-signature', 'x-slack-request-timestamp'] },
  { provider: 'shopify', headers: ['x-shopify-hmac-sha256', 'x-shopify-topic', 'x-shopify-webhook-id'] },
  {
    provider: 'gitlab',
    headers: ['x-gitlab-token', 'x-gitlab-event', 'idempotency-key', 'x-gitlab-event-uuid'],
  },
  {
    provider: 'standard-webhooks',
    headers: [
      'webhook-id',
      'webhook-timestamp',
      'webhook-signature',
      'svix-id',
      'svix-timestamp',
      'svix-signature',
    ],
  },
  { provider: 'generic', headers: ['x-signature', 'x-event-type', 'x-delivery-id', 'webhook-id'] },
  {
    provider: 'generic',
    generic: { algorithm: 'sha512', encoding: 'base64', prefix: '', timestampHeader: 'x-ts' },
    headers: ['x-signature', 'x-ts', 'x-event-type', 'x-delivery-id'],
  },
];

describe('every provider under arbitrary headers and bodies', () => {
  it.each(PROVIDERS)(
    '$provider $generic: never throws, never accepts, refuses with a documented reason',
    (p) => {
      const v = verifierOf(p.provider, p.generic);
      fc.assert(
        fc.property(
          headersOver(p.headers),
          rawBody,
          fc.array(secret, { maxLength: 2 }),
          (headers, body, secrets) => {
            const r = answer(v, headers, body, secrets);
            expect([...SIGNATURE_REFUSALS, ...PAYLOAD_REFUSALS]).toContain(r);
            // Without secrets nothing is even compared.
            if (secrets.length === 0) expect(r).toBe('no_secrets');
          },
        ),
        RUNS,
      );
    },
  );
});

const eventName = token;
const payloadJson = fc.dictionary(token, fc.jsonValue(), { maxKeys: 4 });

describe('GitHub, signed with @octokit/webhooks-methods', () => {
  const v = verifierOf('github');
  it('accepts what sign() produces, under either live secret, and refuses a changed body or signature', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.tuple(secret, secret),
        fc.boolean(),
        payloadJson,
        eventName,
        token,
        fc.nat(),
        async ([current, previous], usePrevious, json, event, delivery, at) => {
          const payload = JSON.stringify(json);
          const signature = await githubSign(usePrevious ? previous : current, payload);
          const headers = {
            'x-hub-signature-256': signature,
            'x-github-event': event,
            'x-github-delivery': delivery,
          };
          const action = typeof json.action === 'string' ? json.action : undefined;
          const body = Buffer.from(payload);
          const expected =
            action !== undefined && !/^[\x21-\x7e]{1,200}$/.test(`${event}.${action}`)
              ? 'invalid_event_type'
              : `ok com.github.${action === undefined ? event : `${event}.${action}`} ${delivery}`;
          expect(answer(v, headers, body, [current, previous])).toBe(expected);
          expect(answer(v, headers, flipped(body, at), [current, previous])).toBe('signature_mismatch');
          const hex = signature.slice('sha256='.length);
          const i = at % hex.length;
          const changed = `sha256=${hex.slice(0, i)}${hex[i] === '0' ? '1' : '0'}${hex.slice(i + 1)}`;
          expect(answer(v, { ...headers, 'x-hub-signature-256': changed }, body, [current, previous])).toBe(
            'signature_mismatch',
          );
          expect(answer(v, { ...headers, 'x-hub-signature-256': hex }, body, [current])).toBe(
            'malformed_signature',
          );
        },
      ),
      { seed: SEED, numRuns: 150 },
    );
  });
});

describe('Stripe, signed with stripe.webhooks.generateTestHeaderString', () => {
  const v = verifierOf('stripe');
  it('accepts what Stripe signs within the tolerance, and refuses outside it or changed', () => {
    fc.assert(
      fc.property(
        secret.map((s) => `whsec_${s}`),
        token,
        token,
        fc.integer({ min: -TOLERANCE_S, max: TOLERANCE_S }),
        fc.integer({ min: 1, max: 10_000 }),
        fc.nat(),
        (s, id, type, skew, beyond, at) => {
          const payload = JSON.stringify({ id, type, created: NOW_S });
          const sign = (timestamp: number) =>
            Stripe.webhooks.generateTestHeaderString({ payload, secret: s, timestamp });
          const body = Buffer.from(payload);
          expect(answer(v, { 'stripe-signature': sign(NOW_S + skew) }, body, [s])).toBe(
            `ok com.stripe.${type} ${id}`,
          );
          const late = NOW_S - TOLERANCE_S - beyond;
          expect(answer(v, { 'stripe-signature': sign(late) }, body, [s])).toBe('timestamp_out_of_tolerance');
          expect(answer(v, { 'stripe-signature': sign(NOW_S) }, flipped(body, at), [s])).toBe(
            'signature_mismatch',
          );
          // Re-timestamping a captured signature breaks it: the timestamp is signed.
          const replayed = sign(NOW_S).replace(/t=\d+/, `t=${NOW_S + 1}`);
          expect(answer(v, { 'stripe-signature': replayed }, body, [s])).toBe('signature_mismatch');
        },
      ),
      { seed: SEED, numRuns: 150 },
    );
  });
});

describe('Standard Webhooks and Svix, signed with standardwebhooks and svix', () => {
  const v = verifierOf('standard-webhooks');
  it('accepts what either library signs under either header brand, and refuses any change', () => {
    fc.assert(
      fc.property(
        whsec,
        fc.string({
          unit: fc.constantFrom(...'abcdefghijklmnopqrstuvwxyz0123456789_'.split('')),
          minLength: 1,
          maxLength: 40,
        }),
        fc.oneof(token, fc.constant(undefined)),
        // One second inside the window, so that a re-timestamped copy is judged by its signature.
        fc.integer({ min: -TOLERANCE_S + 1, max: TOLERANCE_S - 1 }),
        fc.boolean(),
        fc.nat(),
        (s, msgId, type, skew, svix, at) => {
          const payload = JSON.stringify(type === undefined ? { data: 1 } : { type, data: 1 });
          const when = new Date((NOW_S + skew) * 1000);
          const signature = svix
            ? new SvixWebhook(s).sign(msgId, when, payload)
            : new StandardWebhook(s).sign(msgId, when, payload);
          const brand = svix ? 'svix' : 'webhook';
          const headers = {
            [`${brand}-id`]: msgId,
            [`${brand}-timestamp`]: String(NOW_S + skew),
            [`${brand}-signature`]: signature,
          };
          const body = Buffer.from(payload);
          expect(answer(v, headers, body, [s])).toBe(`ok ${type ?? 'webhook.received'} ${msgId}`);
          expect(answer(v, headers, flipped(body, at), [s])).toBe('signature_mismatch');
          expect(answer(v, { ...headers, [`${brand}-id`]: `${msgId}x` }, body, [s])).toBe(
            'signature_mismatch',
          );
          expect(answer(v, { ...headers, [`${brand}-timestamp`]: String(NOW_S + skew + 1) }, body, [s])).toBe(
            'signature_mismatch',
          );
          expect(
            answer(v, { ...headers, [`${brand}-timestamp`]: String(NOW_S - TOLERANCE_S - 1) }, body, [s]),
          ).toBe('timestamp_out_of_tolerance');
        },
      ),
      { seed: SEED, numRuns: 150 },
    );
  });
});

const hmac = (alg: string, key: string, data: string | Buffer, enc: 'hex' | 'base64') =>
  createHmac(alg, key).update(data).digest(enc);

describe('Slack, Shopify and GitLab, by their documented formulas', () => {
  it('Slack: v0=HMAC-SHA256("v0:<ts>:<body>"), refused when stale or changed', () => {
    const v = verifierOf('slack');
    fc.assert(
      fc.property(
        secret,
        token,
        token,
        fc.integer({ min: -TOLERANCE_S, max: TOLERANCE_S }),
        fc.nat(),
        (s, id, type, skew, at) => {
          const ts = String(NOW_S + skew);
          const payload = JSON.stringify({ event_id: id, event: { type } });
          const headers = {
            'x-slack-request-timestamp': ts,
            'x-slack-signature': `v0=${hmac('sha256', s, `v0:${ts}:${payload}`, 'hex')}`,
          };
          const body = Buffer.from(payload);
          expect(answer(v, headers, body, [s])).toBe(`ok com.slack.${type} ${id}`);
          expect(answer(v, headers, flipped(body, at), [s])).toBe('signature_mismatch');
          expect(answer(v, { ...headers, 'x-slack-request-timestamp': `${ts}0` }, body, [s])).not.toMatch(
            /^ok/,
          );
        },
      ),
      RUNS,
    );
  });

  it('Shopify: base64 HMAC-SHA256 of the body, refused when changed', () => {
    const v = verifierOf('shopify');
    fc.assert(
      fc.property(secret, rawBody, token, token, fc.nat(), (s, body, topic, id, at) => {
        const headers = {
          'x-shopify-hmac-sha256': hmac('sha256', s, body, 'base64'),
          'x-shopify-topic': topic,
          'x-shopify-webhook-id': id,
        };
        expect(answer(v, headers, body, [s])).toBe(`ok com.shopify.${topic.replaceAll('/', '.')} ${id}`);
        expect(answer(v, headers, flipped(body, at), [s])).toBe('signature_mismatch');
      }),
      RUNS,
    );
  });

  it('GitLab: the token itself, compared in constant time; any other token refused', () => {
    const v = verifierOf('gitlab');
    fc.assert(
      fc.property(
        secret.filter((s) => s.trim() === s && !/[\r\n]/.test(s)),
        secret,
        token,
        (s, other, uuid) => {
          const headers = { 'x-gitlab-token': s, 'x-gitlab-event': 'Push Hook', 'x-gitlab-event-uuid': uuid };
          expect(answer(v, headers, Buffer.from('{}'), [s])).toBe(`ok com.gitlab.push ${uuid}`);
          if (other !== s) {
            expect(answer(v, { ...headers, 'x-gitlab-token': other }, Buffer.from('{}'), [s])).toBe(
              'signature_mismatch',
            );
          }
        },
      ),
      RUNS,
    );
  });
});

describe('generic HMAC, for every configuration the backend accepts', () => {
  it('accepts "<prefix><digest>" over the body (or "<ts>.<body>"), and refuses it changed', () => {
    // The prefixes the backend stores (visible ASCII, inner spaces, not starting with one: sources.ts).
    const prefix = fc.oneof(
      fc.constant(undefined),
      fc
        .string({
          unit: fc.constantFrom(...'abcdefghijklmnopqrstuvwxyz0123456789=:-_ '.split('')),
          maxLength: 32,
        })
        .filter((x) => !x.startsWith(' ')),
    );
    fc.assert(
      fc.property(
        fc.constantFrom('sha256', 'sha512'),
        fc.constantFrom('hex', 'base64') as fc.Arbitrary<'hex' | 'base64'>,
        prefix,
        fc.boolean(),
        secret,
        rawBody,
        fc.nat(),
        (algorithm, encoding, pre, timestamped, s, body, at) => {
          const config = {
            algorithm,
            encoding,
            ...(pre === undefined ? {} : { prefix: pre }),
            // '' is the explicit opt-out (body alone); unset would be the default x-timestamp.
            timestampHeader: timestamped ? 'x-ts' : '',
          };
          const v = verifierOf('generic', config);
          const ts = String(NOW_S);
          const signed = timestamped ? Buffer.concat([Buffer.from(`${ts}.`), body]) : body;
          const headers = {
            'x-signature': `${pre ?? 'sha256='}${hmac(algorithm, s, signed, encoding)}`,
            ...(timestamped ? { 'x-ts': ts } : {}),
            'x-delivery-id': 'd-1',
          };
          expect(answer(v, headers, body, [s])).toBe('ok webhook.received d-1');
          expect(answer(v, headers, flipped(body, at), [s])).toBe('signature_mismatch');
        },
      ),
      RUNS,
    );
  });
});
