import type { Server } from 'node:http';
import type { timestampFromDate } from '@bufbuild/protobuf/wkt';
import type { RecordEventResponse } from '@zenmesh/proto';
import type { Logger, Meter } from '@zenmesh/telemetry';
import type { Redis } from 'ioredis';
import type { RefusalCounter } from './refusal-counter.js';
import type { SourcesClient } from './source-cache.js';

/** The slice of the backend's EventService the ingester uses. */
export interface EventsClient {
  recordEvent(request: {
    sourceId: string;
    type: string;
    time: ReturnType<typeof timestampFromDate>;
    datacontenttype: string;
    data: Uint8Array;
    providerDeliveryId: string;
    /** What connection filters may read (event-headers.ts). */
    headers: Record<string, string>;
  }): Promise<RecordEventResponse>;
}

/** The slice of EgressService the ingester uses: a nudge that deliveries of an event are due. */
export interface EgressClient {
  dispatch(request: { eventId: string }): Promise<unknown>;
}

export interface IngesterOptions {
  sources: SourcesClient;
  events: EventsClient;
  egress: EgressClient;
  logger: Logger;
  /** Hard limit on a webhook body; default 1 MiB. */
  maxBodyBytes?: number;
  /** Time allowed to receive a whole request; default 30 s (then 408 and the connection is closed). */
  requestTimeoutMs?: number;
  /** Reports whether the gRPC peers are reachable, for GET /healthz; default: always healthy. */
  health?: () => Promise<boolean>;
  sourceCacheTtlMs?: number;
  /** How long an unknown source id is answered 404 without asking the backend again; default 5 000 ms. */
  unknownSourceTtlMs?: number;
  /**
   * Shared state for deduplication and rate limits across instances (REDIS_URL). Without it both live
   * in this process, which is only right for a single instance. The caller owns the connection.
   */
  redis?: Redis | undefined;
  /** Prefix of every Redis key; default `zm:ingest:`. */
  keyPrefix?: string;
  /**
   * Per-source token bucket, taken before the body is read or verified; default 100/s with a burst of 200;
   * `false` turns it off.
   */
  rateLimit?: { perSecond: number; burst: number } | false;
  /**
   * Per-client-IP token bucket, taken before anything else (no body read, no backend call); default 200/s with
   * a burst of 400; `false` turns it off. Behind a proxy, set `trustedProxies` or every client shares its IP.
   */
  ipRateLimit?: { perSecond: number; burst: number } | false;
  /**
   * How long SHA-256 of (source, raw body) is remembered for schemes whose signature does not cover the
   * delivery id (GitHub, Shopify, GitLab, Slack, generic): a resend of the same bytes within it is answered as
   * a duplicate, whatever its delivery id. Default 24 h.
   */
  bodyDedupWindowMs?: number;
  /** Proxies (addresses or CIDR ranges) whose X-Forwarded-For is believed; default none. */
  trustedProxies?: readonly string[];
  /** Allowed age (and clock skew) of a signed timestamp, when the source does not say; default 300 s. */
  toleranceS?: number;
  /** How long a retry waits for a concurrent first attempt's answer before asking the backend; default 5 s. */
  dedupWaitMs?: number;
  /** Least time between two Dispatch nudges to egress (egress-nudge.ts); default 20 ms. */
  nudgeIntervalMs?: number;
  /** The clock signatures are checked against, in ms since the epoch; tests freeze it. */
  now?: () => number;
  /** Where refusals by reason are exported (`zenmesh_ingest_refusals`); none when unset. */
  meter?: Meter;
  /**
   * Told of each webhook of a known source refused for its signature (401), e.g. a
   * signature-failure-reporter.ts counter; never called for accepted webhooks.
   */
  onSignatureFailure?: (sourceId: string) => void;
}

export interface Ingester {
  readonly server: Server;
  readonly refusals: RefusalCounter;
  /** Failures of the shared store (Redis), by kind; the ingester carries on without it. */
  readonly storeErrors: RefusalCounter;
  /** Listens on host:port (port 0 for any) and resolves to the base URL. */
  listen(hostPort: string): Promise<string>;
  /** Stops accepting, lets in-flight requests finish for up to graceMs, then closes what is left. */
  close(graceMs?: number): Promise<void>;
}
