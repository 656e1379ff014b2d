// Shared by the egress tests (excluded from the build): a real HTTP target and a minimal stand-in for the
// backend's leasing, whose real implementation is tested in services/backend.
import { once } from 'node:events';
import { createServer, type IncomingHttpHeaders, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { create } from '@bufbuild/protobuf';
import { timestampFromDate } from '@bufbuild/protobuf/wkt';
import { newId } from '@zenmesh/crypto';
import { type LeasedDelivery, LeasedDeliverySchema, ReportOutcomeSchema } from '@zenmesh/proto';
import type { DeliveriesClient } from './delivery-engine.js';

export const secret = () =>
  `whsec_${Buffer.from(crypto.getRandomValues(new Uint8Array(24))).toString('base64')}`;

export interface Received {
  headers: IncomingHttpHeaders;
  body: Buffer;
}

/** A real HTTP target on 127.0.0.1:0 whose answer each test chooses. */
export async function startTarget(answer: (res: ServerResponse, received: Received) => void) {
  const received: Received[] = [];
  let active = 0;
  let maxActive = 0;
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      active += 1;
      maxActive = Math.max(maxActive, active);
      res.on('close', () => {
        active -= 1;
      });
      const r = { headers: req.headers, body: Buffer.concat(chunks) };
      received.push(r);
      answer(res, r);
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook?token=abc`,
    received,
    get active() {
      return active;
    },
    get maxActive() {
      return maxActive;
    },
    close: () => {
      server.closeAllConnections();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

export type Report = Parameters<DeliveriesClient['reportAttempt']>[0];

/**
 * The backend's side of leasing, minimal: a queue handed out up to `max` (and, like the real lease, at most
 * the caller's share or room per endpoint), the reports received, and throttled leases put back in the
 * queue once their wait is over.
 */
export function createFakeBackend(options: { leaseDelayMs?: number } = {}) {
  const queue: LeasedDelivery[] = [];
  /** Lease calls under way now, and the most ever under way at once. */
  const overlap = { pending: 0, max: 0 };
  const reports: Report[] = [];
  const leaseCalls: {
    max: number;
    eventId: string;
    reports: number;
    share: number;
    rooms: Array<{ endpointId: string; room: number }>;
  }[] = [];
  const out = new Map<string, LeasedDelivery>();
  const timers = new Set<NodeJS.Timeout>();
  /** Reports that came one per call (ReportAttempt) rather than with a lease round. */
  const single: Report[] = [];
  const client: DeliveriesClient = {
    async leaseDeliveries({ max, eventId, reports: sent, endpointShare = 0, rooms = [] }) {
      reports.push(...sent);
      leaseCalls.push({ max, eventId, reports: sent.length, share: endpointShare, rooms });
      for (const r of sent) {
        const item = out.get(r.deliveryId);
        if (item === undefined || !(r.throttledMs && r.throttledMs > 0)) continue;
        const t = setTimeout(() => {
          timers.delete(t);
          queue.push(item);
        }, r.throttledMs);
        timers.add(t);
      }
      overlap.pending += 1;
      overlap.max = Math.max(overlap.max, overlap.pending);
      if (options.leaseDelayMs !== undefined) await new Promise((r) => setTimeout(r, options.leaseDelayMs));
      overlap.pending -= 1;
      const picked: LeasedDelivery[] = [];
      const room = new Map(rooms.map((r) => [r.endpointId, r.room]));
      const taken = new Map<string, number>();
      for (let i = 0; i < queue.length && picked.length < max; ) {
        const d = queue[i] as LeasedDelivery;
        const ep = d.delivery?.endpointId ?? '';
        const cap = room.get(ep) ?? (endpointShare > 0 ? endpointShare : Number.POSITIVE_INFINITY);
        if ((eventId === '' || d.event?.id === eventId) && (taken.get(ep) ?? 0) < cap) {
          picked.push(...queue.splice(i, 1));
          taken.set(ep, (taken.get(ep) ?? 0) + 1);
          out.set(d.delivery?.id ?? '', d);
        } else i += 1;
      }
      const outcomes = sent.map((r) =>
        create(ReportOutcomeSchema, { deliveryId: r.deliveryId, refusal: '' }),
      );
      return { $typeName: 'zenmesh.v1.LeaseDeliveriesResponse', deliveries: picked, reports: outcomes };
    },
    async reportAttempt(request) {
      reports.push(request);
      single.push(request);
      return {};
    },
  };
  const close = () => {
    for (const t of timers) clearTimeout(t);
    timers.clear();
  };
  return { queue, reports, single, leaseCalls, overlap, client, close };
}

export function leased(url: string, secrets: string[], body = '{"order":42}'): LeasedDelivery {
  const eventId = newId('evt');
  return create(LeasedDeliverySchema, {
    delivery: { id: newId('dlv'), eventId, endpointId: newId('ep'), tenantId: newId('ten') },
    event: {
      id: eventId,
      source: '/sources/src_x',
      type: 'order.created',
      time: timestampFromDate(new Date('2026-01-02T03:04:05.678Z')),
      datacontenttype: 'application/json',
      data: Buffer.from(body),
    },
    endpointUrl: url,
    signingSecrets: secrets,
    leaseToken: `lease-${eventId}`,
  });
}
