import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Webhook } from 'standardwebhooks';

/** What the target answers to one attempt: a status (and headers), or `hang` to never answer. */
export type Answer = { status: number; headers?: Record<string, string> } | 'hang';

/** Decides the answer per attempt: `attempt` counts this key's arrivals at this target, from 1. */
export type Behaviour = (key: string, attempt: number) => Answer | Promise<Answer>;

export interface ChaosTarget {
  readonly url: string;
  /** Every arrival (verified signature) per key: performance.now() of each. */
  readonly arrivals: Map<string, number[]>;
  /** Requests whose Standard Webhooks signature did not verify (must stay 0). */
  unverified(): number;
  setSecret(whsec: string): void;
  delivered(keys: readonly string[]): number;
  duplicates(keys: readonly string[]): number;
  /** Bounded wait until every key has arrived at least once; resolves with how many are still missing. */
  waitAll(keys: readonly string[], timeoutMs: number): Promise<number>;
  close(): Promise<void>;
}

/**
 * A customer endpoint for chaos runs: verifies every request with the `standardwebhooks` package (a forged or
 * mangled delivery is counted, never accepted), records each key's arrivals, and answers as `behaviour`
 * says (204 by default; a hanging answer is a black hole that holds the connection open).
 */
export async function startChaosTarget(behaviour: Behaviour = () => ({ status: 204 })): Promise<ChaosTarget> {
  let secret = '';
  let unverified = 0;
  const arrivals = new Map<string, number[]>();
  const hanging = new Set<ServerResponse>();
  const handle = async (req: IncomingMessage, res: ServerResponse, body: string) => {
    let key: string;
    try {
      const payload = new Webhook(secret).verify(body, {
        'webhook-id': String(req.headers['webhook-id']),
        'webhook-timestamp': String(req.headers['webhook-timestamp']),
        'webhook-signature': String(req.headers['webhook-signature']),
      }) as { key: string };
      key = payload.key;
    } catch {
      unverified += 1;
      res.writeHead(400).end();
      return;
    }
    const seen = arrivals.get(key) ?? [];
    seen.push(performance.now());
    arrivals.set(key, seen);
    const answer = await behaviour(key, seen.length);
    if (answer === 'hang') {
      hanging.add(res);
      res.once('close', () => hanging.delete(res));
      return;
    }
    res.writeHead(answer.status, answer.headers).end();
  };
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => void handle(req, res, Buffer.concat(chunks).toString('utf8')));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const delivered = (keys: readonly string[]) => keys.filter((k) => arrivals.has(k)).length;
  return {
    url: `http://127.0.0.1:${port}/hook`,
    arrivals,
    unverified: () => unverified,
    setSecret(whsec) {
      secret = whsec;
    },
    delivered,
    duplicates: (keys) => keys.reduce((n, k) => n + Math.max(0, (arrivals.get(k)?.length ?? 0) - 1), 0),
    async waitAll(keys, timeoutMs) {
      const deadline = Date.now() + timeoutMs;
      while (delivered(keys) < keys.length && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 250));
      }
      return keys.length - delivered(keys);
    },
    async close() {
      for (const res of hanging) res.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
