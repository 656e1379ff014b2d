import { createHash, randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ClaimStore } from '@zenmesh/shared-state';

/**
 * The outcome of claiming a (source, delivery id):
 * - `claimed`: this request records the event, then commits the answer (or releases on failure);
 * - `answered`: an earlier request already recorded it — answer with that event id;
 * - `unclaimed`: no answer within the wait, or the store failed — go to the backend, whose unique
 *   constraint on (source, provider delivery id) stays the final word.
 */
export type Claim =
  | { kind: 'claimed'; commit(eventId: string): Promise<void>; release(): Promise<void> }
  | { kind: 'answered'; eventId: string }
  | { kind: 'unclaimed' };

export interface DedupStore {
  claim(sourceId: string, deliveryId: string): Promise<Claim>;
}

export interface DedupStoreOptions {
  /** Where claims live: Redis, shared by every ingester instance, or in-process (one instance only). */
  store: ClaimStore;
  /** How long a claim holds before another request may take over (a crashed holder). */
  claimTtlMs?: number;
  /** How long a committed answer is served from the store; the backend answers after that. */
  answerTtlMs?: number;
  /** How long a retry waits for the claim holder's answer before going to the backend itself. */
  waitMs?: number;
  pollMs?: number;
  onError?: (err: unknown) => void;
}

/**
 * Short-lived claim/answer records (one claim-once store, `@zenmesh/shared-state`, the same primitive as the
 * nonce store) in front of the backend's unique constraint, so a provider's retries — even many at once, on several ingester instances — produce one RecordEvent and get the
 * first answer back. Keys hold a digest of the delivery id, never the id itself.
 */
export function createDedupStore(options: DedupStoreOptions): DedupStore {
  const {
    store,
    claimTtlMs = 15_000,
    answerTtlMs = 60 * 60_000,
    waitMs = 5_000,
    pollMs = 20,
    onError = () => {},
  } = options;

  return {
    async claim(sourceId, deliveryId) {
      const digest = createHash('sha256').update(deliveryId).digest('base64url');
      const key = `dedup:${sourceId}:${digest}`;
      const mine = `p:${randomBytes(12).toString('base64url')}`;
      const deadline = performance.now() + waitMs;
      try {
        for (;;) {
          if (await store.claim(key, mine, claimTtlMs)) {
            return {
              kind: 'claimed',
              commit: (eventId) => store.set(key, `e:${eventId}`, answerTtlMs).catch(onError),
              release: () => store.release(key, mine).catch(onError),
            };
          }
          const value = await store.get(key);
          if (value?.startsWith('e:')) return { kind: 'answered', eventId: value.slice(2) };
          if (performance.now() >= deadline) return { kind: 'unclaimed' };
          if (value !== null) await sleep(pollMs);
        }
      } catch (err) {
        onError(err);
        return { kind: 'unclaimed' };
      }
    },
  };
}
