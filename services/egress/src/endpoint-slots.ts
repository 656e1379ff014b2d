/**
 * This egress's own bookkeeping per endpoint, sent with every lease call so the backend hands out no more
 * than it may take (issue 14: one slow or black-hole endpoint must not eat every slot of an egress):
 * - a fair share: at most `share` deliveries of one endpoint in flight here (default a quarter of the
 *   egress's concurrency, so three misbehaving endpoints still leave a quarter of the slots to the rest);
 * - a throttled endpoint (its rate limit had no token) gets no room until its next token is due, and then
 *   about one second's worth of its rate for a while, so a throttle does not turn into lease churn.
 * The backend applies the endpoint's own max_concurrency across all egress instances on top.
 */
export interface EndpointSlots {
  readonly share: number;
  /** A delivery of this endpoint started (or ended) here. */
  add(endpointId: string): void;
  remove(endpointId: string): void;
  /** The endpoint's rate limit refused a token; the next is due at `untilMs`. */
  throttled(endpointId: string, untilMs: number, perSecond: number): void;
  /** What the lease call carries: the room of every endpoint that differs from the plain share. */
  rooms(nowMs: number): Array<{ endpointId: string; room: number }>;
  held(endpointId: string): number;
}

/** How long after a throttle an endpoint's room stays at about one second of its rate. */
const THROTTLE_MEMORY_MS = 5_000;

export function defaultEndpointShare(concurrency: number): number {
  return Math.max(1, Math.ceil(concurrency / 4));
}

export function createEndpointSlots(share: number): EndpointSlots {
  if (!Number.isInteger(share) || share < 1) throw new TypeError('endpoint share must be a positive integer');
  const held = new Map<string, number>();
  const paused = new Map<string, { untilMs: number; perSecond: number }>();
  return {
    share,
    add(id) {
      held.set(id, (held.get(id) ?? 0) + 1);
    },
    remove(id) {
      const n = (held.get(id) ?? 0) - 1;
      if (n > 0) held.set(id, n);
      else held.delete(id);
    },
    throttled(id, untilMs, perSecond) {
      paused.set(id, { untilMs, perSecond });
    },
    rooms(nowMs) {
      const out: Array<{ endpointId: string; room: number }> = [];
      for (const [id, p] of paused) {
        if (nowMs >= p.untilMs + THROTTLE_MEMORY_MS) paused.delete(id);
      }
      const ids = new Set([...held.keys(), ...paused.keys()]);
      for (const id of ids) {
        const mine = held.get(id) ?? 0;
        const p = paused.get(id);
        const cap = p === undefined ? share : nowMs < p.untilMs ? 0 : Math.min(share, Math.ceil(p.perSecond));
        out.push({ endpointId: id, room: Math.max(0, cap - mine) });
      }
      // The backend takes at most 1000 entries; the fullest endpoints matter most.
      return out.sort((a, b) => a.room - b.room).slice(0, 1000);
    },
    held: (id) => held.get(id) ?? 0,
  };
}
