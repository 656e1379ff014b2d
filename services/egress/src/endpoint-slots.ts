/**
 * This egress's own bookkeeping per endpoint, sent with every lease call so the backend hands out no more
 * than it may take (issue 14: one slow or black-hole endpoint must not eat every slot of an egress):
 * - a fair share: an endpoint not known to be fast holds at most `share` deliveries in flight here (default a
 *   quarter of the egress's concurrency, so three misbehaving endpoints still leave a quarter of the slots to
 *   the rest). An endpoint whose recent attempts are quick (moving average under FAST_MS, none in flight for
 *   longer than SLOW_MS) may use every slot: it hands them back at once, so it starves no one;
 * - a throttled endpoint (its rate limit had no token) gets no room until its next token is due, and then
 *   about one second's worth of its rate for a while, so a throttle does not turn into lease churn.
 * The backend applies the endpoint's own max_concurrency across all egress instances on top.
 */
export interface EndpointSlots {
  readonly share: number;
  /** A delivery of this endpoint started here at `nowMs`. */
  add(endpointId: string, nowMs: number): void;
  /** The delivery started at `startMs` ended at `nowMs`; `attempted` false when nothing was sent (throttled). */
  remove(endpointId: string, startMs: number, nowMs: number, attempted?: boolean): void;
  /** The endpoint's rate limit refused a token; the next is due at `untilMs`. */
  throttled(endpointId: string, untilMs: number, perSecond: number): void;
  /** What the lease call carries: the room of every endpoint that differs from the plain share. */
  rooms(nowMs: number): Array<{ endpointId: string; room: number }>;
}

/** How long after a throttle an endpoint's room stays at about one second of its rate. */
const THROTTLE_MEMORY_MS = 5_000;
/** An endpoint whose attempts average less than this is fast. */
const FAST_MS = 250;
/** An attempt in flight this long makes its endpoint slow at once (before its average knows). */
const SLOW_MS = 1_000;
/** Endpoints whose speed is remembered (least recently finished forgotten first). */
const MAX_REMEMBERED = 10_000;

export function defaultEndpointShare(concurrency: number): number {
  return Math.max(1, Math.ceil(concurrency / 4));
}

export function createEndpointSlots(share: number, concurrency: number = share): EndpointSlots {
  if (!Number.isInteger(share) || share < 1) throw new TypeError('endpoint share must be a positive integer');
  const held = new Map<string, number[]>();
  const averageMs = new Map<string, number>();
  const paused = new Map<string, { untilMs: number; perSecond: number }>();
  const fast = (id: string, nowMs: number): boolean => {
    const avg = averageMs.get(id);
    const oldest = held.get(id)?.[0];
    return avg !== undefined && avg < FAST_MS && (oldest === undefined || nowMs - oldest < SLOW_MS);
  };
  return {
    share,
    add(id, nowMs) {
      const starts = held.get(id) ?? [];
      starts.push(nowMs);
      held.set(id, starts);
    },
    remove(id, startMs, nowMs, attempted = true) {
      const starts = held.get(id) ?? [];
      const i = starts.indexOf(startMs);
      if (i >= 0) starts.splice(i, 1);
      if (starts.length === 0) held.delete(id);
      if (!attempted) return;
      const took = nowMs - startMs;
      const before = averageMs.get(id);
      averageMs.delete(id);
      averageMs.set(id, before === undefined ? took : before * 0.7 + took * 0.3);
      if (averageMs.size > MAX_REMEMBERED) averageMs.delete(averageMs.keys().next().value as string);
    },
    throttled(id, untilMs, perSecond) {
      paused.set(id, { untilMs, perSecond });
    },
    rooms(nowMs) {
      const out: Array<{ endpointId: string; room: number }> = [];
      for (const [id, p] of paused) {
        if (nowMs >= p.untilMs + THROTTLE_MEMORY_MS) paused.delete(id);
      }
      for (const id of new Set([...held.keys(), ...paused.keys()])) {
        const mine = held.get(id)?.length ?? 0;
        const p = paused.get(id);
        const cap =
          p !== undefined
            ? nowMs < p.untilMs
              ? 0
              : Math.min(share, Math.ceil(p.perSecond))
            : fast(id, nowMs)
              ? Math.max(share, concurrency)
              : share;
        out.push({ endpointId: id, room: Math.max(0, cap - mine) });
      }
      // The backend takes at most 1000 entries; the fullest endpoints matter most.
      return out.sort((a, b) => a.room - b.room).slice(0, 1000);
    },
  };
}
