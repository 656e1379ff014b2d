// The ingester verifies each source's signed timestamps with that source's own tolerance from ResolveSource,
// capped at an hour whatever it is handed. Webhooks are signed by the providers' own libraries (stripe,
// standardwebhooks); the clock is frozen.
import { create } from '@bufbuild/protobuf';
import { newId } from '@zenmesh/crypto';
import { RecordEventResponseSchema, ResolveSourceResponseSchema } from '@zenmesh/proto';
import { Code, RpcError } from '@zenmesh/rpc';
import { createLogger } from '@zenmesh/telemetry';
import { Webhook } from 'standardwebhooks';
import Stripe from 'stripe';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createIngester } from './ingester-app.js';
import type { Ingester } from './ingester-options.js';
import { MAX_SOURCE_TOLERANCE_S, sourceToleranceS } from './source-tolerance.js';

const NOW_MS = 1_700_000_000_000;
const nowS = NOW_MS / 1000;
const STRIPE_SECRET = 'whsec_stripe-test-secret';
const SW_SECRET = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
const sources = new Map<string, { provider: string; toleranceSeconds: number; secret: string }>();
let ingester: Ingester;
let base: string;

beforeAll(async () => {
  ingester = createIngester({
    sources: {
      async resolveSource({ sourceId }) {
        const s = sources.get(sourceId);
        if (s === undefined) throw new RpcError(Code.NOT_FOUND, 'source_not_found');
        return create(ResolveSourceResponseSchema, {
          source: {
            id: sourceId,
            tenantId: 'ten_x',
            provider: s.provider,
            toleranceSeconds: s.toleranceSeconds,
          },
          secrets: [s.secret],
        });
      },
    },
    events: {
      recordEvent: async () => create(RecordEventResponseSchema, { event: { id: newId('evt') } }),
    },
    egress: { dispatch: async () => ({}) },
    logger: createLogger('ingester', { level: 'silent' }),
    now: () => NOW_MS,
    rateLimit: false,
  });
  base = await ingester.listen('127.0.0.1:0');
});
afterAll(() => ingester.close());

const source = (provider: string, toleranceSeconds: number) => {
  const id = newId('src');
  sources.set(id, { provider, toleranceSeconds, secret: provider === 'stripe' ? STRIPE_SECRET : SW_SECRET });
  return id;
};

let n = 0;
/** A Stripe webhook signed `ageS` seconds before now; the HTTP status and the counted refusal, if any. */
async function stripeAged(id: string, ageS: number): Promise<string> {
  const payload = JSON.stringify({ id: `evt_${n++}`, type: 'charge.succeeded', created: nowS - ageS });
  const before = ingester.refusals.snapshot().timestamp_out_of_tolerance ?? 0;
  const res = await fetch(`${base}/v1/webhooks/${id}`, {
    method: 'POST',
    body: payload,
    headers: {
      'content-type': 'application/json',
      'stripe-signature': Stripe.webhooks.generateTestHeaderString({
        payload,
        secret: STRIPE_SECRET,
        timestamp: nowS - ageS,
      }),
    },
  });
  const counted = (ingester.refusals.snapshot().timestamp_out_of_tolerance ?? 0) - before;
  return `${res.status}${counted ? ' timestamp_out_of_tolerance' : ''}`;
}

describe("a source's own tolerance", () => {
  it('a tighter one (60 s) refuses what the default would accept', async () => {
    const id = source('stripe', 60);
    expect(await stripeAged(id, 59)).toBe('202');
    expect(await stripeAged(id, 61)).toBe('401 timestamp_out_of_tolerance');
    expect(await stripeAged(id, -61)).toBe('401 timestamp_out_of_tolerance');
  });

  it('a wider one (1200 s) accepts what the default would refuse, and no more', async () => {
    const id = source('stripe', 1200);
    expect(await stripeAged(id, 900)).toBe('202');
    expect(await stripeAged(id, 1201)).toBe('401 timestamp_out_of_tolerance');
  });

  it('0 means the default of 300 s', async () => {
    const id = source('stripe', 0);
    expect(await stripeAged(id, 299)).toBe('202');
    expect(await stripeAged(id, 301)).toBe('401 timestamp_out_of_tolerance');
  });

  it('more than an hour, which the backend never writes, is capped at an hour', async () => {
    const id = source('stripe', 99_999);
    expect(await stripeAged(id, MAX_SOURCE_TOLERANCE_S - 1)).toBe('202');
    expect(await stripeAged(id, MAX_SOURCE_TOLERANCE_S + 1)).toBe('401 timestamp_out_of_tolerance');
  });

  it('applies to Standard Webhooks too (signed with standardwebhooks)', async () => {
    const id = source('standard-webhooks', 30);
    const post = async (ageS: number) => {
      const payload = '{"type":"user.created"}';
      const msgId = `msg_${n++}`;
      const at = new Date(NOW_MS - ageS * 1000);
      const signature = new Webhook(SW_SECRET).sign(msgId, at, payload);
      return (
        await fetch(`${base}/v1/webhooks/${id}`, {
          method: 'POST',
          body: payload,
          headers: {
            'content-type': 'application/json',
            'webhook-id': msgId,
            'webhook-timestamp': String(Math.floor(at.getTime() / 1000)),
            'webhook-signature': signature,
          },
        })
      ).status;
    };
    expect(await post(29)).toBe(202);
    expect(await post(31)).toBe(401);
  });
});

describe('sourceToleranceS', () => {
  it.each([
    [{}, 300],
    [{ toleranceSeconds: 0 }, 300],
    [{ toleranceSeconds: 120 }, 120],
    [{ toleranceSeconds: 3600 }, 3600],
    [{ toleranceSeconds: 3601 }, 3600],
    [{ toleranceSeconds: Number.POSITIVE_INFINITY }, 300],
    [{ toleranceSeconds: Number.NaN }, 300],
    [{ toleranceSeconds: -5 }, 300],
  ])('%o → %d', (source, expected) => {
    expect(sourceToleranceS(source, 300)).toBe(expected);
  });
});
