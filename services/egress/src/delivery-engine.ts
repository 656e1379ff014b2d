import {
  type Context,
  context,
  propagation,
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  trace,
} from '@opentelemetry/api';
import type { LeaseDeliveriesResponse, LeasedDelivery, ReportOutcome } from '@zenmesh/proto';
import { createRateLimiter, type RateLimiter } from '@zenmesh/shared-state';
import { contextOfTraceparent, type Logger } from '@zenmesh/telemetry';
import type { Dispatcher } from 'undici';
import { deliver } from './deliver.js';
import type { DeliveryMetrics } from './delivery-metrics.js';
import { createEndpointSlots, defaultEndpointShare } from './endpoint-slots.js';
import { createTargetAgents, type TargetAgents } from './target-agents.js';
import { createAddressCheck, STRICT_TARGET_POLICY, type TargetPolicy } from './target-policy.js';

/** One finished attempt, as the backend records it. */
export interface AttemptReport {
  deliveryId: string;
  leaseToken: string;
  statusCode: number;
  error: string;
  durationMs: number;
  retryAfterS: number;
  /** Set instead of an attempt: the endpoint's rate limit had no token; due again after this wait. */
  throttledMs?: number;
}

/** The slice of the backend's DeliveryService egress uses. */
export interface DeliveriesClient {
  /** Records `reports` (finished attempts) first, then leases up to `max` (none when max is 0 and reports are given). */
  leaseDeliveries(request: {
    max: number;
    leaseMs: number;
    eventId: string;
    reports: AttemptReport[];
    endpointShare?: number;
    rooms?: Array<{ endpointId: string; room: number }>;
  }): Promise<LeaseDeliveriesResponse>;
  reportAttempt(request: AttemptReport): Promise<unknown>;
}

/** Most attempt reports sent in one LeaseDeliveries call. */
const MAX_REPORTS_PER_CALL = 256;
/** Most completion-driven lease rounds under way at once. */
const ROUNDS_IN_FLIGHT = 2;

export interface DeliveryEngineOptions {
  deliveries: DeliveriesClient;
  logger: Logger;
  /** Most deliveries in flight at once; leases are only taken for free slots. Default 32. */
  concurrency?: number;
  /** Poll interval; default 1000 ms. */
  pollMs?: number;
  /** Timeout of one HTTP attempt; default 15 s. */
  timeoutMs?: number;
  /** How long a lease lasts; must outlive an attempt plus its report. Default 2 × timeout + 10 s. */
  leaseMs?: number;
  maxResponseBytes?: number;
  /**
   * Which target addresses may be connected to (SSRF protection). Default: public unicast only; a
   * local setup that delivers to 127.0.0.1 must allow it explicitly, e.g. `{ allow: ['127.0.0.0/8', '::1/128'] }`.
   */
  targetPolicy?: TargetPolicy;
  /** Extra trusted root certificates (PEM) for HTTPS targets, besides Node's bundled ones. */
  targetCa?: string;
  /**
   * HTTP client for every delivery, replacing the built-in guarded agents (and with them the SSRF
   * policy and per-endpoint client certificates). Tests only.
   */
  dispatcher?: Dispatcher;
  /** Records each attempt (delivery-metrics.ts). */
  metrics?: DeliveryMetrics;
  /** Most deliveries of one endpoint in flight in this egress (endpoint-slots.ts); default concurrency / 4. */
  endpointShare?: number;
  /**
   * Endpoints' outbound throttles (`rateLimit` on an endpoint): one token bucket per endpoint, shared by
   * every egress when the limiter uses Redis. Without it throttles are enforced in this process only.
   */
  limiter?: RateLimiter;
}

export interface DeliveryEngine {
  /** Starts the poll loop. */
  start(): void;
  /** Runs a lease round for one event now; false when stopping. Deliveries become children of `parent`. */
  nudge(eventId: string, parent?: Context): boolean;
  /** Stops polling, waits up to graceMs for attempts in flight, aborts the rest (their leases expire). */
  stop(graceMs?: number): Promise<void>;
  readonly inFlight: number;
}

export function createDeliveryEngine(options: DeliveryEngineOptions): DeliveryEngine {
  const {
    deliveries,
    logger,
    concurrency = 32,
    pollMs = 1000,
    timeoutMs = 15_000,
    maxResponseBytes = 64 * 1024,
  } = options;
  const leaseMs = options.leaseMs ?? timeoutMs * 2 + 10_000;
  if (!Number.isInteger(concurrency) || concurrency < 1)
    throw new TypeError('concurrency must be a positive integer');
  // Fail at start-up on a malformed allow-list, not at the first delivery.
  const agents: TargetAgents | undefined =
    options.dispatcher === undefined
      ? createTargetAgents({
          addresses: createAddressCheck(options.targetPolicy ?? STRICT_TARGET_POLICY),
          connections: concurrency,
          ...(options.targetCa === undefined ? {} : { ca: options.targetCa }),
        })
      : undefined;
  const dispatcherFor = (leased: LeasedDelivery): Dispatcher =>
    options.dispatcher ?? (agents as TargetAgents).forEndpoint(leased.clientCertPem, leased.clientKeyPem);
  const slots = createEndpointSlots(options.endpointShare ?? defaultEndpointShare(concurrency), concurrency);
  const limiter = options.limiter ?? createRateLimiter({ perSecond: 1, burst: 1 });
  const tracer = trace.getTracer('@zenmesh/egress');
  const shutdown = new AbortController();
  const running = new Set<Promise<void>>();
  // Lease calls not yet answered: stop waits for them so no lease is taken and then forgotten.
  const rounds = new Set<Promise<number>>();
  // Slots promised to a lease call that has not answered yet: keeps concurrent rounds within the limit.
  let reserved = 0;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let stopping: Promise<void> | undefined;
  let leaseFailing = false;
  // Finished attempts not yet reported: the next round carries them.
  const reports: AttemptReport[] = [];

  /**
   * A throttled endpoint's delivery is not attempted: its lease goes back with the wait until the next
   * token (no attempt, no retry spent) and the endpoint gets no room until then (endpoint-slots.ts).
   */
  async function throttled(leased: LeasedDelivery, delivery: { id: string; endpointId: string }) {
    if (!(leased.ratePerSecond > 0)) return false;
    const shape = { perSecond: leased.ratePerSecond, burst: Math.max(1, leased.rateBurst) };
    const decision = await limiter.take(`egress:endpoint:${delivery.endpointId}`, Date.now(), shape);
    if (decision.allowed) return false;
    slots.throttled(delivery.endpointId, performance.now() + decision.retryAfterMs, shape.perSecond);
    reports.push({
      deliveryId: delivery.id,
      leaseToken: leased.leaseToken,
      statusCode: 0,
      error: '',
      durationMs: 0,
      retryAfterS: 0,
      throttledMs: decision.retryAfterMs,
    });
    logger.debug({ deliveryId: delivery.id, waitMs: decision.retryAfterMs }, 'throttled; lease released');
    return true;
  }

  /** One attempt; false when nothing was sent (a throttled or malformed lease). */
  async function attempt(leased: LeasedDelivery, parent: Context): Promise<boolean> {
    const delivery = leased.delivery;
    if (delivery === undefined || leased.event === undefined) {
      logger.error('lease answered without delivery or event');
      return false;
    }
    if (await throttled(leased, delivery)) return false;
    const attributes = {
      'zenmesh.delivery.id': delivery.id,
      'zenmesh.event.id': leased.event.id,
      'zenmesh.endpoint.id': delivery.endpointId,
      'zenmesh.tenant.id': delivery.tenantId,
      'http.request.method': 'POST',
      // The host only: a customer URL's path or query may carry credentials.
      'server.address': safeHost(leased.endpointUrl),
    };
    // A poll or a retry has no caller's trace: the attempt joins the event's own (stored at RecordEvent).
    const joined = trace.getSpanContext(parent)
      ? parent
      : contextOfTraceparent(leased.event.traceparent, parent);
    return tracer.startActiveSpan(
      'webhook.deliver',
      { kind: SpanKind.CLIENT, attributes },
      joined,
      async (span): Promise<boolean> => {
        try {
          const headers: Record<string, string> = {};
          propagation.inject(context.active(), headers);
          const result = await deliver(leased, {
            dispatcher: dispatcherFor(leased),
            timeoutMs,
            maxResponseBytes,
            headers,
            signal: shutdown.signal,
          });
          span.setAttribute('http.response.status_code', result.statusCode);
          options.metrics?.attempt(leased, result);
          if (!result.ok) span.setStatus({ code: SpanStatusCode.ERROR, message: result.error });
          if (shutdown.signal.aborted) {
            logger.warn({ deliveryId: delivery.id }, 'attempt cut short by shutdown; lease will expire');
            return true;
          }
          const { ok: _ok, ...report } = result;
          // Sent with the next lease round (one call for every attempt finished meanwhile).
          reports.push({ deliveryId: delivery.id, leaseToken: leased.leaseToken, ...report });
          logger.debug(
            {
              deliveryId: delivery.id,
              eventId: leased.event?.id,
              status: result.statusCode,
              ms: result.durationMs,
            },
            result.ok ? 'delivered' : 'delivery attempt failed',
          );
          return true;
        } catch (err) {
          span.setStatus({ code: SpanStatusCode.ERROR });
          logger.error({ deliveryId: delivery.id, err }, 'delivery attempt crashed');
          return true;
        } finally {
          span.end();
        }
      },
    );
  }

  function launch(leased: LeasedDelivery, parent: Context): void {
    const endpointId = leased.delivery?.endpointId ?? '';
    const started = performance.now();
    slots.add(endpointId, started);
    const task: Promise<void> = attempt(leased, parent).then(
      (attempted) => finish(attempted),
      (err: unknown) => {
        logger.error({ err }, 'delivery attempt crashed');
        finish(true);
      },
    );
    function finish(attempted: boolean): void {
      slots.remove(endpointId, started, performance.now(), attempted);
      running.delete(task);
      kick();
    }
    running.add(task);
  }

  // A finished attempt frees a slot here and, at the backend, one of its endpoint's concurrency slots:
  // lease again at once rather than at the next poll, or an endpoint at its limit would drain only
  // once per poll interval. Up to ROUNDS_IN_FLIGHT such rounds overlap (the next one starts while the
  // last is still waiting for its answer), so an endpoint's rate is not bounded by one round's latency;
  // `reserved` keeps them within `concurrency`, and the backend's lease keeps each endpoint within
  // its own limit. Completions while all are under way ask for one more.
  let kicking = 0;
  let kickAgain = false;
  function kick(): void {
    if (stopped) return;
    if (kicking >= ROUNDS_IN_FLIGHT) {
      kickAgain = true;
      return;
    }
    kicking += 1;
    kickAgain = false;
    void round('', ROOT_CONTEXT).finally(() => {
      kicking -= 1;
      if (kickAgain) kick();
    });
  }

  function round(eventId: string, parent: Context): Promise<number> {
    const task = leaseAndLaunch(eventId, parent).finally(() => rounds.delete(task));
    rounds.add(task);
    return task;
  }

  /** Reports finished attempts and leases as many due deliveries as there are free slots, and starts them. */
  async function leaseAndLaunch(eventId: string, parent: Context): Promise<number> {
    const max = stopped ? 0 : concurrency - running.size - reserved;
    const sending = reports.splice(0, MAX_REPORTS_PER_CALL);
    if (max <= 0 && sending.length === 0) return 0;
    reserved += Math.max(max, 0);
    let leased: LeasedDelivery[] = [];
    try {
      const answer = await context.with(parent, () =>
        // Every round leases whatever is due (eventId empty): a nudge stands for every event committed before it.
        deliveries.leaseDeliveries({
          max: Math.max(max, 0),
          leaseMs,
          eventId: '',
          reports: sending,
          endpointShare: slots.share,
          rooms: slots.rooms(performance.now()),
        }),
      );
      leased = answer.deliveries;
      noteRefusedReports(answer.reports);
      if (leaseFailing) logger.info('LeaseDeliveries works again');
      leaseFailing = false;
    } catch (err) {
      // Once per outage at warn, then debug: a backend that is down must not flood the log every poll.
      logger[leaseFailing ? 'debug' : 'warn'](
        { err, eventId: eventId || undefined, reports: sending.length },
        'LeaseDeliveries failed',
      );
      leaseFailing = true;
      // At-least-once: unreported attempts' leases expire and the backend offers those deliveries again.
      // One more try each, on its own, before giving them up.
      await Promise.allSettled(sending.map((r) => deliveries.reportAttempt(r)));
    } finally {
      reserved -= Math.max(max, 0);
    }
    if (reports.length > 0) kick();
    if (leased.length > max) {
      logger.error(
        { asked: max, got: leased.length },
        'backend leased more than asked; extra leases left to expire',
      );
    }
    const now = leased.slice(0, Math.max(max, 0));
    // Only the nudged event's attempts join the nudge's trace; any other joins its own event's (stored with it).
    for (const one of now) launch(one, eventId !== '' && one.event?.id === eventId ? parent : ROOT_CONTEXT);
    return now.length;
  }

  function noteRefusedReports(outcomes: ReportOutcome[]): void {
    for (const o of outcomes) {
      if (o.refusal !== '')
        logger.warn({ deliveryId: o.deliveryId, reason: o.refusal }, 'attempt report refused');
    }
  }

  const poll = (): void => {
    timer = undefined;
    void round('', ROOT_CONTEXT).finally(() => {
      if (!stopped) timer = setTimeout(poll, pollMs);
    });
  };

  return {
    start() {
      if (!stopped && timer === undefined) timer = setTimeout(poll, 0);
    },
    nudge(eventId, parent = context.active()) {
      if (stopped) return false;
      // A round under way may have read before this event committed: one more round follows it (and
      // folds every nudge that arrives meanwhile). Otherwise lease now, under the caller's trace.
      if (kicking > 0) {
        kickAgain = true;
        return true;
      }
      const span = tracer.startSpan(
        'egress.dispatch',
        { attributes: { 'zenmesh.event.id': eventId } },
        parent,
      );
      kicking += 1;
      kickAgain = false;
      void round(eventId, trace.setSpan(parent, span))
        .then(
          (count) => {
            span.setAttribute('zenmesh.deliveries.started', count);
            span.end();
          },
          () => span.end(),
        )
        .finally(() => {
          kicking -= 1;
          if (kickAgain) kick();
        });
      return true;
    },
    stop(graceMs = 10_000) {
      stopping ??= drain(graceMs);
      return stopping;
    },
    get inFlight() {
      return running.size;
    },
  };

  async function drain(graceMs: number): Promise<void> {
    stopped = true;
    if (timer !== undefined) clearTimeout(timer);
    timer = undefined;
    await Promise.allSettled([...rounds]);
    const drained = Promise.allSettled([...running]);
    let grace: NodeJS.Timeout | undefined;
    const late = await Promise.race([
      drained.then(() => false),
      new Promise<boolean>((resolve) => {
        grace = setTimeout(() => resolve(true), graceMs);
      }),
    ]);
    clearTimeout(grace);
    if (late) {
      logger.warn({ inFlight: running.size }, 'aborting deliveries still in flight');
      shutdown.abort();
      await Promise.allSettled([...running]);
    }
    // The attempts that finished while stopping are reported before leaving (nothing more is leased).
    while (reports.length > 0) await round('', ROOT_CONTEXT);
    await agents?.close();
  }
}

function safeHost(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return '';
  }
}
