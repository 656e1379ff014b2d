import { createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { create } from '@bufbuild/protobuf';
import { sign as githubSign } from '@octokit/webhooks-methods';
import { newId } from '@zenmesh/crypto';
import {
  RecordEventResponseSchema,
  type ResolveSourceResponse,
  ResolveSourceResponseSchema,
} from '@zenmesh/proto';
import { Code, RpcError } from '@zenmesh/rpc';
import { createLogger } from '@zenmesh/telemetry';
import { Webhook as StandardWebhook } from 'standardwebhooks';
import Stripe from 'stripe';
import { Webhook as SvixWebhook } from 'svix';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createIngester } from './ingester-app.js';
import type { EventsClient, Ingester } from './ingester-options.js';

// Every scheme is judged by the provider's own signing code or documented example, never ours.
const data = (name: string) =>
  JSON.parse(readFileSync(new URL(`../test-data/${name}.json`, import.meta.url), 'utf8')) as {
    secret?: string;
    signingSecret?: string;
    headers: Record<string, string>;
    body: string;
    expectedType: string;
  };

type Recorded = Parameters<EventsClient['recordEvent']>[0];
const sources = new Map<string, { provider: string; secrets: string[] }>();
const recorded: Recorded[] = [];
const seen = new Map<string, string>();

let clock = 1_700_000_000_000;
const nowS = () => Math.floor(clock / 1000);
let ingester: Ingester;
let base: string;

beforeAll(async () => {
  ingester = createIngester({
    sources: {
      async resolveSource({ sourceId }) {
        const found = sources.get(sourceId);
        if (found === undefined) throw new RpcError(Code.NOT_FOUND, 'source_not_found');
        return create(ResolveSourceResponseSchema, {
          source: { id: sourceId, tenantId: 'ten_x', provider: found.provider, name: 's' },
          secrets: found.secrets,
        });
      },
    },
    // Enforces (source, delivery id) uniqueness like the backend's unique index.
    events: {
      async recordEvent(request) {
        const key = `${request.sourceId}/${request.providerDeliveryId}`;
        const previous = request.providerDeliveryId === '' ? undefined : seen.get(key);
        const id = previous ?? newId('evt');
        if (previous === undefined) {
          recorded.push(request);
          if (request.providerDeliveryId !== '') seen.set(key, id);
        }
        return create(RecordEventResponseSchema, { event: { id }, duplicate: previous !== undefined });
      },
    },
    egress: { dispatch: async () => ({}) },
    logger: createLogger('ingester', { level: 'silent' }),
    now: () => clock,
    rateLimit: false,
  });
  base = await ingester.listen('127.0.0.1:0');
});
afterAll(() => ingester.close());
beforeEach(() => {
  recorded.length = 0;
  seen.clear();
  clock = 1_700_000_000_000;
});

const source = (provider: string, secrets: string[]): string => {
  const id = newId('src');
  sources.set(id, { provider, secrets });
  return id;
};
const post = (id: string, body: string | Buffer, headers: Record<string, string>) =>
  fetch(`${base}/v1/webhooks/${id}`, { method: 'POST', body, headers });

async function expectAccepted(res: Response, type: string, deliveryId: string) {
  expect({ status: res.status, body: await res.json() }).toEqual({
    status: 202,
    body: { id: expect.stringMatching(/^evt_/), duplicate: false },
  });
  expect(recorded.at(-1)).toMatchObject({ type, providerDeliveryId: deliveryId });
}

/** The exact refusal: 401 invalid_signature, the reason counted once, nothing recorded. */
async function expectRefused(send: () => Promise<Response>, reason: string) {
  const before = ingester.refusals.snapshot()[reason] ?? 0;
  const res = await send();
  expect({ status: res.status, body: await res.json() }).toEqual({
    status: 401,
    body: { error: 'invalid_signature' },
  });
  expect(ingester.refusals.snapshot()[reason]).toBe(before + 1);
  expect(recorded).toHaveLength(0);
}

const tamper = (body: string) => body.replace(/.$/, (c) => (c === '}' ? ' ' : '}'));
const withTimestamp = (headers: Record<string, string>, name: string, delta: number) => ({
  ...headers,
  [name]: String(Number(headers[name]) + delta),
});
const without = (headers: Record<string, string>, name: string) =>
  Object.fromEntries(Object.entries(headers).filter(([k]) => k !== name));

describe('GitHub (signed with @octokit/webhooks-methods)', () => {
  const SECRET = 'gh-current-secret';
  const OLD = 'gh-previous-secret';
  const id = source('github', [SECRET, OLD]);
  const body = '{"action":"opened","number":1}';
  const headers = async (secret = SECRET) => ({
    'content-type': 'application/json',
    'x-hub-signature-256': await githubSign(secret, body),
    'x-github-event': 'pull_request',
    'x-github-delivery': '72d3162e-cc78-11e3-81ab-4c9367dc0958',
  });

  it('accepts a delivery, typed com.github.<event>.<action>', async () => {
    await expectAccepted(
      await post(id, body, await headers()),
      'com.github.pull_request.opened',
      '72d3162e-cc78-11e3-81ab-4c9367dc0958',
    );
  });
  it('accepts one signed with the previous secret during rotation', async () => {
    expect((await post(id, body, await headers(OLD))).status).toBe(202);
  });
  it("accepts GitHub's documented test vector", async () => {
    const doc = data('github');
    const docSource = source('github', [doc.secret ?? '']);
    await expectAccepted(
      await post(docSource, doc.body, doc.headers),
      doc.expectedType,
      doc.headers['x-github-delivery'] ?? '',
    );
  });
  it('refuses a tampered body', async () => {
    await expectRefused(async () => post(id, tamper(body), await headers()), 'signature_mismatch');
  });
  it('refuses another secret', async () => {
    await expectRefused(async () => post(id, body, await headers('not-the-secret')), 'signature_mismatch');
  });
  it('refuses an unsigned delivery', async () => {
    await expectRefused(
      async () => post(id, body, without(await headers(), 'x-hub-signature-256')),
      'missing_signature',
    );
  });
  it('refuses the legacy sha1 header alone and a truncated digest', async () => {
    const h = await headers();
    await expectRefused(
      () => post(id, body, { ...without(h, 'x-hub-signature-256'), 'x-hub-signature': 'sha1=00' }),
      'missing_signature',
    );
    await expectRefused(
      () => post(id, body, { ...h, 'x-hub-signature-256': (h['x-hub-signature-256'] ?? '').slice(0, -2) }),
      'malformed_signature',
    );
  });
});

describe('Stripe (signed with stripe.webhooks.generateTestHeaderString)', () => {
  const SECRET = 'whsec_stripe_current';
  const OLD = 'whsec_stripe_previous';
  const id = source('stripe', [SECRET, OLD]);
  const body = JSON.stringify({
    id: 'evt_1NG8Du2eZvKYlo2CUI79vXWy',
    object: 'event',
    type: 'payment_intent.succeeded',
    created: 1_699_999_990,
  });
  const header = (secret = SECRET, timestamp = nowS()) => ({
    'content-type': 'application/json',
    'stripe-signature': Stripe.webhooks.generateTestHeaderString({ payload: body, secret, timestamp }),
  });

  it('accepts an event, its id and type taken from the verified body', async () => {
    await expectAccepted(
      await post(id, body, header()),
      'com.stripe.payment_intent.succeeded',
      'evt_1NG8Du2eZvKYlo2CUI79vXWy',
    );
    expect(recorded[0]?.time?.seconds).toBe(1_699_999_990n);
  });
  it('accepts the previous secret, and a header with several v1 signatures (Stripe rolling a secret)', async () => {
    expect((await post(id, body, header(OLD))).status).toBe(202);
    const t = nowS();
    const other = Stripe.webhooks.generateTestHeaderString({
      payload: body,
      secret: 'whsec_unrelated',
      timestamp: t,
    });
    const mine = Stripe.webhooks.generateTestHeaderString({ payload: body, secret: SECRET, timestamp: t });
    const both = `${other},${mine.split(',')[1]}`;
    expect((await post(id, body, { 'stripe-signature': both })).status).toBe(202);
  });
  it('accepts at the edge of the 300 s tolerance', async () => {
    expect((await post(id, body, header(SECRET, nowS() - 300))).status).toBe(202);
  });
  it('refuses a tampered body', async () => {
    await expectRefused(() => post(id, tamper(body), header()), 'signature_mismatch');
  });
  it('refuses a re-timestamped header (t changed, signature kept)', async () => {
    const h = header()['stripe-signature'].replace(/t=(\d+)/, (_, t) => `t=${Number(t) + 1}`);
    await expectRefused(() => post(id, body, { 'stripe-signature': h }), 'signature_mismatch');
  });
  it('refuses an expired signature (301 s old) and one from the future', async () => {
    await expectRefused(() => post(id, body, header(SECRET, nowS() - 301)), 'timestamp_out_of_tolerance');
    await expectRefused(() => post(id, body, header(SECRET, nowS() + 301)), 'timestamp_out_of_tolerance');
  });
  it('refuses an unsigned request and a header without v1', async () => {
    await expectRefused(() => post(id, body, {}), 'missing_signature');
    await expectRefused(
      () => post(id, body, { 'stripe-signature': `t=${nowS()},v0=abc` }),
      'malformed_signature',
    );
  });
  it('answers 400 invalid_payload for an authentic body that is not a Stripe event', async () => {
    const odd = '{"object":"event"}';
    const res = await post(id, odd, {
      'stripe-signature': Stripe.webhooks.generateTestHeaderString({
        payload: odd,
        secret: SECRET,
        timestamp: nowS(),
      }),
    });
    expect({ status: res.status, body: await res.json() }).toEqual({
      status: 400,
      body: { error: 'invalid_payload' },
    });
  });
});

describe('Slack (documented example)', () => {
  const doc = data('slack');
  const id = source('slack', ['slack-current', doc.signingSecret ?? '']);
  const at = (seconds: number) => {
    clock = seconds * 1000;
  };
  const ts = Number(doc.headers['x-slack-request-timestamp']);

  it("accepts Slack's worked example with its secret as the previous one", async () => {
    at(ts + 10);
    await expectAccepted(await post(id, doc.body, doc.headers), doc.expectedType, '');
  });
  it('accepts an Events API callback signed per the documented recipe, with event_id as the delivery id', async () => {
    at(ts);
    const body = '{"type":"event_callback","event_id":"Ev08MFMKH6","event":{"type":"app_mention"}}';
    const sig = createHmac('sha256', 'slack-current').update(`v0:${ts}:${body}`).digest('hex');
    const headers = { 'x-slack-request-timestamp': String(ts), 'x-slack-signature': `v0=${sig}` };
    await expectAccepted(await post(id, body, headers), 'com.slack.app_mention', 'Ev08MFMKH6');
  });
  it('answers the url_verification handshake with its challenge and stores nothing', async () => {
    at(ts);
    const body =
      '{"token":"t","challenge":"3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P","type":"url_verification"}';
    const sig = createHmac('sha256', 'slack-current').update(`v0:${ts}:${body}`).digest('hex');
    const res = await post(id, body, {
      'x-slack-request-timestamp': String(ts),
      'x-slack-signature': `v0=${sig}`,
    });
    expect({ status: res.status, body: await res.json() }).toEqual({
      status: 200,
      body: { challenge: '3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P' },
    });
    expect(recorded).toHaveLength(0);
  });
  it('refuses the example tampered, re-timestamped, expired, from the future and unsigned', async () => {
    at(ts + 10);
    await expectRefused(() => post(id, tamper(doc.body), doc.headers), 'signature_mismatch');
    await expectRefused(
      () => post(id, doc.body, withTimestamp(doc.headers, 'x-slack-request-timestamp', 1)),
      'signature_mismatch',
    );
    at(ts + 301);
    await expectRefused(() => post(id, doc.body, doc.headers), 'timestamp_out_of_tolerance');
    at(ts - 301);
    await expectRefused(() => post(id, doc.body, doc.headers), 'timestamp_out_of_tolerance');
    await expectRefused(
      () => post(id, doc.body, without(doc.headers, 'x-slack-signature')),
      'missing_signature',
    );
    await expectRefused(
      () => post(id, doc.body, without(doc.headers, 'x-slack-request-timestamp')),
      'missing_timestamp',
    );
  });
});

describe('Shopify (documented headers, signed by the documented recipe)', () => {
  const doc = data('shopify');
  const id = source('shopify', [doc.secret ?? '', 'shopify-previous']);
  const sign = (secret: string, body: string) =>
    createHmac('sha256', secret).update(body, 'utf8').digest('base64');
  const headers = (secret = doc.secret ?? '', body = doc.body) => ({
    ...doc.headers,
    'x-shopify-hmac-sha256': sign(secret, body),
  });

  it('accepts the documented request, typed by its topic', async () => {
    await expectAccepted(
      await post(id, doc.body, headers()),
      doc.expectedType,
      doc.headers['x-shopify-webhook-id'] ?? '',
    );
  });
  it('accepts the previous secret during rotation', async () => {
    expect((await post(id, doc.body, headers('shopify-previous'))).status).toBe(202);
  });
  it('refuses it tampered, under another secret, hex-encoded and unsigned', async () => {
    await expectRefused(() => post(id, tamper(doc.body), headers()), 'signature_mismatch');
    await expectRefused(() => post(id, doc.body, headers('nope')), 'signature_mismatch');
    const hex = createHmac('sha256', doc.secret ?? '')
      .update(doc.body)
      .digest('hex');
    await expectRefused(
      () => post(id, doc.body, { ...doc.headers, 'x-shopify-hmac-sha256': hex }),
      'malformed_signature',
    );
    await expectRefused(() => post(id, doc.body, doc.headers), 'missing_signature');
  });
});

describe('GitLab (documented push event)', () => {
  const doc = data('gitlab');
  const id = source('gitlab', [doc.secret ?? '', 'gitlab-previous']);

  it('accepts the documented request, Idempotency-Key as the delivery id', async () => {
    await expectAccepted(
      await post(id, doc.body, doc.headers),
      doc.expectedType,
      doc.headers['idempotency-key'] ?? '',
    );
  });
  it('falls back to X-Gitlab-Event-UUID, and accepts the previous token', async () => {
    const headers = { ...without(doc.headers, 'idempotency-key'), 'x-gitlab-token': 'gitlab-previous' };
    // A second source: on the first, these same bytes are already an event (body dedup, GitLab signs no id).
    const other = source('gitlab', [doc.secret ?? '', 'gitlab-previous']);
    await expectAccepted(
      await post(other, doc.body, headers),
      doc.expectedType,
      doc.headers['x-gitlab-event-uuid'] ?? '',
    );
  });
  it('refuses a wrong token, a prefix of the token, and none', async () => {
    await expectRefused(
      () => post(id, doc.body, { ...doc.headers, 'x-gitlab-token': 'guess' }),
      'signature_mismatch',
    );
    const prefix = (doc.secret ?? '').slice(0, -1);
    await expectRefused(
      () => post(id, doc.body, { ...doc.headers, 'x-gitlab-token': prefix }),
      'signature_mismatch',
    );
    await expectRefused(
      () => post(id, doc.body, without(doc.headers, 'x-gitlab-token')),
      'missing_signature',
    );
  });
});

describe('Standard Webhooks (signed with standardwebhooks and svix)', () => {
  const SECRET = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
  const OLD = 'whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD';
  const id = source('standard-webhooks', [SECRET, OLD]);
  const svixId = source('svix', [SECRET]);
  const body = '{"type":"invoice.paid","timestamp":"2023-11-14T22:13:20Z","data":{"id":"inv_1"}}';
  const headers = (secret = SECRET, msgId = 'msg_2b8hX1', at = new Date(clock)) => ({
    'content-type': 'application/json',
    'webhook-id': msgId,
    'webhook-timestamp': String(Math.floor(at.getTime() / 1000)),
    'webhook-signature': new StandardWebhook(secret).sign(msgId, at, body),
  });
  const svixHeaders = (secret = SECRET, at = new Date(clock)) => ({
    'svix-id': 'msg_svix_1',
    'svix-timestamp': String(Math.floor(at.getTime() / 1000)),
    'svix-signature': new SvixWebhook(secret).sign('msg_svix_1', at, body),
  });

  it('accepts a message signed by standardwebhooks, typed by its payload', async () => {
    await expectAccepted(await post(id, body, headers()), 'invoice.paid', 'msg_2b8hX1');
    expect(recorded[0]?.time?.seconds).toBe(BigInt(nowS()));
  });
  it('accepts svix-* headers signed by svix, on a source of either name', async () => {
    await expectAccepted(await post(svixId, body, svixHeaders()), 'invoice.paid', 'msg_svix_1');
    expect((await post(id, body, { ...svixHeaders(), 'svix-id': 'msg_svix_2' })).status).toBe(401);
  });
  it('accepts several signatures when one matches, and the previous secret', async () => {
    const other = new StandardWebhook(OLD).sign('msg_multi', new Date(clock), body);
    const h = headers('whsec_dGhpcyBpcyBub3QgaXQ=', 'msg_multi');
    expect(
      (await post(id, body, { ...h, 'webhook-signature': `${h['webhook-signature']} ${other}` })).status,
    ).toBe(202);
  });
  it('accepts the specification example', async () => {
    const doc = data('standard-webhooks');
    clock = Number(doc.headers['webhook-timestamp']) * 1000;
    const docSource = source('standard-webhooks', [doc.secret ?? '']);
    await expectAccepted(
      await post(docSource, doc.body, doc.headers),
      doc.expectedType,
      doc.headers['webhook-id'] ?? '',
    );
  });
  it('refuses it tampered, with another id, re-timestamped, expired, early and unsigned', async () => {
    await expectRefused(() => post(id, tamper(body), headers()), 'signature_mismatch');
    await expectRefused(
      () => post(id, body, { ...headers(), 'webhook-id': 'msg_other' }),
      'signature_mismatch',
    );
    await expectRefused(
      () => post(id, body, withTimestamp(headers(), 'webhook-timestamp', -1)),
      'signature_mismatch',
    );
    await expectRefused(
      () => post(id, body, headers(SECRET, 'm', new Date(clock - 301_000))),
      'timestamp_out_of_tolerance',
    );
    await expectRefused(
      () => post(id, body, headers(SECRET, 'm', new Date(clock + 301_000))),
      'timestamp_out_of_tolerance',
    );
    await expectRefused(() => post(id, body, without(headers(), 'webhook-signature')), 'missing_signature');
    await expectRefused(
      () => post(svixId, body, svixHeaders('whsec_dGhpcyBpcyBub3QgaXQ=')),
      'signature_mismatch',
    );
  });
});

describe('generic HMAC with a timestamp header', () => {
  it('verifies "<timestamp>.<body>" and enforces the tolerance', async () => {
    const id = newId('src');
    const SECRET = 'generic-secret';
    const original = sources.get.bind(sources);
    // The timestamp header is read from the source config once backend.proto carries it.
    sources.set(id, { provider: 'generic', secrets: [SECRET] });
    const ing = createIngester({
      sources: {
        async resolveSource({ sourceId }) {
          const found = original(sourceId);
          // A plain object, as the proto message will be once GenericHmacConfig gains timestamp_header.
          const response = {
            source: {
              id: sourceId,
              provider: 'generic',
              generic: { header: 'x-sig', timestampHeader: 'x-ts' },
            },
            secrets: found?.secrets ?? [],
          };
          return response as unknown as ResolveSourceResponse;
        },
      },
      events: { recordEvent: async () => create(RecordEventResponseSchema, { event: { id: newId('evt') } }) },
      egress: { dispatch: async () => ({}) },
      logger: createLogger('ingester', { level: 'silent' }),
      now: () => clock,
    });
    const url = await ing.listen('127.0.0.1:0');
    try {
      const body = 'payload';
      const send = (ts: number, signedTs = ts) =>
        fetch(`${url}/v1/webhooks/${id}`, {
          method: 'POST',
          body,
          headers: {
            'x-ts': String(ts),
            'x-sig': `sha256=${createHmac('sha256', SECRET).update(`${signedTs}.${body}`).digest('hex')}`,
          },
        });
      expect((await send(nowS())).status).toBe(202);
      expect((await send(nowS() + 1, nowS())).status).toBe(401);
      expect((await send(nowS() - 301)).status).toBe(401);
      expect(ing.refusals.snapshot()).toEqual({ signature_mismatch: 1, timestamp_out_of_tolerance: 1 });
    } finally {
      await ing.close();
    }
  });
});
