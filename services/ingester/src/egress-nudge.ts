import { type Context, context } from '@opentelemetry/api';
import type { Logger } from '@zenmesh/telemetry';
import type { EgressClient } from './ingester-options.js';

/** Tells egress that deliveries are due; folds a burst of events into few Dispatch calls. */
export type EgressNudge = (eventId: string) => void;

export interface EgressNudgeOptions {
  egress: EgressClient;
  logger: Logger;
  /**
   * Least time between two Dispatch calls (default 20 ms): the first event after a quiet spell is
   * nudged at once, the ones that follow within this interval share one trailing nudge. Egress leases
   * everything due on a nudge and, while it has attempts in flight, leases again as each one finishes,
   * so a busy egress needs no nudge per event; an idle one waits at most this long for the trailing one.
   */
  minIntervalMs?: number;
  /** Clock in ms; tests replace it. */
  now?: () => number;
}

/**
 * At most one Dispatch in flight and at most one per `minIntervalMs`; a nudge that comes in between is
 * kept (the latest event id and its trace context) and sent when both allow. A lost nudge loses nothing:
 * the events are committed and egress also polls.
 */
export function createEgressNudge(options: EgressNudgeOptions): EgressNudge {
  const { egress, logger, minIntervalMs = 20, now = Date.now } = options;
  let inFlight = false;
  let lastSentAt = Number.NEGATIVE_INFINITY;
  let pending: { eventId: string; ctx: Context } | undefined;
  let timer: NodeJS.Timeout | undefined;

  const send = (eventId: string, ctx: Context): void => {
    inFlight = true;
    lastSentAt = now();
    context
      .with(ctx, () => egress.dispatch({ eventId }))
      .catch((err: unknown) => {
        logger.warn({ eventId, err }, 'egress nudge failed; delivery waits for the next poll');
      })
      .finally(() => {
        inFlight = false;
        flush();
      });
  };

  function flush(): void {
    if (pending === undefined || inFlight || timer !== undefined) return;
    const wait = lastSentAt + minIntervalMs - now();
    if (wait > 0) {
      timer = setTimeout(() => {
        timer = undefined;
        flush();
      }, wait);
      timer.unref();
      return;
    }
    const { eventId, ctx } = pending;
    pending = undefined;
    send(eventId, ctx);
  }

  return (eventId) => {
    pending = { eventId, ctx: context.active() };
    flush();
  };
}
