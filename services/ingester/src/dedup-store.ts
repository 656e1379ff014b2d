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
  /** Claims (source, delivery id): a provider's retries of one delivery record one event. */
  claim(sourceId: string, deliveryId: string): Promise<Claim>;
  /**
   * Claims SHA-256 of (source, raw body) for `bodyWindowMs`: the replay guard of schemes whose signature
   * does not cover the delivery id, so a captured webhook resent under a new id is still the same event.
   */
  claimBody(sourceId: string, body: Uint8Array): Promise<Claim>;
}

export interface DedupStoreOptions {
  /** Where claims live: Redis, shared by every ingester instance, or in-process (one instance only). */
  store: ClaimStore;
  /** How long a claim holds before another request may take over (a crashed holder). */
  claimTtlMs?: number;
  /** How long a committed answer is served from the store; the backend answers after that. */
  answerTtlMs?: number;
  /** How long a body's digest is remembered (the replay window of unsigned delivery ids); default 24 h. */
  bodyWindowMs?: number;
  /** How long a retry waits for the claim holder's answer before going to the backend itself. */
  waitMs?: number;
  pollMs?: number;
  onError?: (err: unknown) => void;
}

/**
 * Short-lived claim/answer records (one claim-once store, `@zenmesh/shared-state`, the same primitive as the
 * nonce store) in front of the backend's unique constraint, so a provider's retries — even many at once, on several ingester instances — produce one RecordEvent and get the
 * first answer back. Keys hold a digest of the delivery id (or of the body), never the id or body itself.
 */
export function createDedupStore(options: DedupStoreOptions): DedupStore {
  const {
    store,
    claimTtlMs = 15_000,
    answerTtlMs = 60 * 60_000,
    bodyWindowMs = 24 * 60 * 60_000,
    waitMs = 5_000,
    pollMs = 20,
    onError = () => {},
  } = options;

  const claimKey = async (key: string, keepMs: number): Promise<Claim> => {
    const mine = `p:${randomBytes(12).toString('base64url')}`;
    const deadline = performance.now() + waitMs;
    try {
      for (;;) {
        if (await store.claim(key, mine, claimTtlMs)) {
          return {
            kind: 'claimed',
            commit: (eventId) => store.set(key, `e:${eventId}`, keepMs).catch(onError),
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
  };

  return {
    claim(sourceId, deliveryId) {
      const digest = createHash('sha256').update(deliveryId).digest('base64url');
      return claimKey(`dedup:${sourceId}:${digest}`, answerTtlMs);
    },
    claimBody(sourceId, body) {
      // The source id is length-prefixed into the digest, so no (source, body) pair collides with another.
      const digest = createHash('sha256')
        .update(`${sourceId.length}:${sourceId}:`)
        .update(body)
        .digest('base64url');
      return claimKey(`dedup-body:${sourceId}:${digest}`, bodyWindowMs);
    },
  };
}

/**
 * Every claim one webhook needs, as one: the body digest when its delivery id is unsigned, then the delivery
 * id when it has one (always in this order, so two requests never wait on each other). Answered when either
 * is; committed or released together.
 */
export async function claimWebhook(
  dedup: DedupStore,
  sourceId: string,
  deliveryId: string,
  unsignedBody: Uint8Array | undefined,
): Promise<Claim> {
  const held: Extract<Claim, { kind: 'claimed' }>[] = [];
  const attempts: (() => Promise<Claim>)[] = [];
  if (unsignedBody !== undefined) attempts.push(() => dedup.claimBody(sourceId, unsignedBody));
  if (deliveryId !== '') attempts.push(() => dedup.claim(sourceId, deliveryId));
  for (const attempt of attempts) {
    const claim = await attempt();
    if (claim.kind === 'answered') {
      await Promise.all(held.map((c) => c.release()));
      return claim;
    }
    if (claim.kind === 'claimed') held.push(claim);
  }
  if (held.length === 0) return { kind: 'unclaimed' };
  return {
    kind: 'claimed',
    commit: async (eventId) => {
      await Promise.all(held.map((c) => c.commit(eventId)));
    },
    release: async () => {
      await Promise.all(held.map((c) => c.release()));
    },
  };
}
