import { createHmac } from 'node:crypto';
import { create } from '@bufbuild/protobuf';
import { newId } from '@zenmesh/crypto';
import { GenericHmacConfigSchema, ResolveSourceResponseSchema } from '@zenmesh/proto';
import { Code, RpcError } from '@zenmesh/rpc';
import { createLogger } from '@zenmesh/telemetry';
import { afterEach, describe, expect, it } from 'vitest';
import { createIngester } from './ingester-app.js';
import type { IngesterOptions } from './ingester-options.js';

// Issue 14: the backend refusing the ingester's own call (UNAUTHENTICATED: its clock outside the HMAC window,
// a key or SVID the backend no longer trusts) is not the sender's fault and ends when the operator fixes it,
// so the sender is asked to retry: 503 + Retry-After, nothing stored, the backend's reason logged at error.
const SECRET = 'whsec-refusal-test';
const sourceId = newId('src');
const body = '{"refused":true}';
const headers = { 'x-signature': `sha256=${createHmac('sha256', SECRET).update(body).digest('hex')}` };

function start(failing: 'resolve' | 'record', code: Code) {
  const lines: Record<string, unknown>[] = [];
  const recorded: unknown[] = [];
  const refuse = () => {
    throw new RpcError(code, 'stale_timestamp');
  };
  const options: IngesterOptions = {
    sources: {
      async resolveSource() {
        if (failing === 'resolve') refuse();
        return create(ResolveSourceResponseSchema, {
          source: {
            id: sourceId,
            tenantId: 'ten_x',
            provider: 'generic',
            name: 's',
            generic: create(GenericHmacConfigSchema, { timestampHeader: '' }),
          },
          secrets: [SECRET],
        });
      },
    },
    events: {
      async recordEvent(request) {
        recorded.push(request);
        return refuse();
      },
    },
    egress: {
      async dispatch() {
        return {};
      },
    },
    logger: createLogger('ingester', {
      level: 'info',
      destination: { write: (line: string) => void lines.push(JSON.parse(line)) },
    }),
  };
  return { ingester: createIngester(options), lines, recorded };
}

let close: (() => Promise<void>) | undefined;
afterEach(async () => {
  await close?.();
  close = undefined;
});

describe('the backend refuses the ingester itself', () => {
  it.each(['resolve', 'record'] as const)(
    'UNAUTHENTICATED on %s: 503 with Retry-After, nothing accepted, the reason logged',
    async (failing) => {
      const { ingester, lines } = start(failing, Code.UNAUTHENTICATED);
      close = () => ingester.close();
      const base = await ingester.listen('127.0.0.1:0');
      const res = await fetch(`${base}/v1/webhooks/${sourceId}`, { method: 'POST', body, headers });
      expect(res.status).toBe(503);
      expect(res.headers.get('retry-after')).toBe('5');
      expect(await res.json()).toEqual({ error: 'unavailable' });
      expect(ingester.refusals.snapshot()).toEqual({ backend_unauthenticated: 1 });
      const logged = lines.find((l) => l.reason === 'backend_unauthenticated');
      expect(logged).toMatchObject({
        level: 50,
        rpc: failing === 'resolve' ? 'ResolveSource' : 'RecordEvent',
      });
      expect(JSON.stringify(logged)).toContain('stale_timestamp');
    },
  );

  it('a refusal that is not about the ingester stays a 500 (INVALID_ARGUMENT is a bug, not a pause)', async () => {
    const { ingester } = start('record', Code.INVALID_ARGUMENT);
    close = () => ingester.close();
    const base = await ingester.listen('127.0.0.1:0');
    const res = await fetch(`${base}/v1/webhooks/${sourceId}`, { method: 'POST', body, headers });
    expect(res.status).toBe(500);
    expect(res.headers.get('retry-after')).toBeNull();
    expect(ingester.refusals.snapshot()).toEqual({});
  });
});
