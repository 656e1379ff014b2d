import { createHmac } from 'node:crypto';
import { type AddressInfo, createServer } from 'node:net';

/** A free loopback port (for servers the test starts itself: a private redis-server or Postgres). */
export const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as AddressInfo;
      s.close(() => resolve(port));
    });
  });

/** A small seeded PRNG (mulberry32): every chaos run draws the same numbers for the same seed. */
export function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface BurstStats {
  /** Keys the ingester answered 202 for, with performance.now() of the first POST of each. */
  accepted: Map<string, number>;
  /** Answers that asked the provider to come back: 503 / 429, and how many of them carried Retry-After. */
  retryable: number;
  retryAfter: number;
  /** Connections refused or reset (a dead ingester). */
  connectionErrors: number;
  /** Any other answer: a refusal the provider would not retry (must stay 0 in these runs). */
  refused: Map<number, number>;
  /** performance.now() of each 202, in order (for recovery times). */
  acceptTimes: number[];
}

export interface BurstOptions {
  url: string;
  /** The source's generic HMAC secret (x-signature: sha256=…). */
  secret: string;
  keys: readonly string[];
  concurrency: number;
  /** Called after each 202 with how many were accepted so far: where a fault is injected. */
  onAccepted?: (accepted: number) => void;
  /** Per key, attempts before giving up (a provider retries for hours; these runs are bounded). */
  maxAttempts?: number;
  /** Pause between attempts of one key, ms. */
  retryPauseMs?: number;
}

/**
 * Sends each key once as a signed generic webhook, as a provider would: a 503/429 or a refused connection is
 * retried after a pause (bounded), anything else is counted and dropped. Resolves when every key is settled.
 */
export async function sendBurst(o: BurstOptions): Promise<BurstStats> {
  const stats: BurstStats = {
    accepted: new Map(),
    retryable: 0,
    retryAfter: 0,
    connectionErrors: 0,
    refused: new Map(),
    acceptTimes: [],
  };
  const maxAttempts = o.maxAttempts ?? 600;
  const pause = o.retryPauseMs ?? 100;
  let next = 0;
  const sendOne = async (key: string) => {
    const body = JSON.stringify({ key });
    const signature = `sha256=${createHmac('sha256', o.secret).update(body).digest('hex')}`;
    const first = performance.now();
    for (let attempt = 0; attempt < maxAttempts; attempt++) {
      try {
        const res = await fetch(o.url, {
          method: 'POST',
          headers: {
            'content-type': 'application/json',
            'x-signature': signature,
            'x-event-type': 'chaos.test',
          },
          body,
          signal: AbortSignal.timeout(30_000),
        });
        await res.arrayBuffer();
        if (res.status === 202) {
          stats.accepted.set(key, first);
          stats.acceptTimes.push(performance.now());
          o.onAccepted?.(stats.accepted.size);
          return;
        }
        if (res.status !== 503 && res.status !== 429) {
          stats.refused.set(res.status, (stats.refused.get(res.status) ?? 0) + 1);
          return;
        }
        stats.retryable += 1;
        if (res.headers.get('retry-after')) stats.retryAfter += 1;
      } catch {
        stats.connectionErrors += 1;
      }
      await new Promise((r) => setTimeout(r, pause));
    }
  };
  const worker = async () => {
    while (next < o.keys.length) await sendOne(o.keys[next++] as string);
  };
  await Promise.all(Array.from({ length: o.concurrency }, worker));
  return stats;
}

/** The p-th percentile (0-100) of `values`, nearest rank; 0 for none. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] as number;
}

/** Delivery latency of each accepted key that arrived: first POST sent → first arrival at the target. */
export const deliveryLatencies = (accepted: Map<string, number>, arrivals: Map<string, number[]>): number[] =>
  [...accepted].flatMap(([key, sent]) => {
    const first = arrivals.get(key)?.[0];
    return first === undefined ? [] : [first - sent];
  });
