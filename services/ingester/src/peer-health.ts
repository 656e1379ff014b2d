import { type HealthCheckResponse, HealthCheckResponse_ServingStatus } from '@zenmesh/proto';

/** The grpc.health.v1 client slice a peer check needs. */
export interface HealthClient {
  check(request: { service: string }, options?: { timeoutMs?: number }): Promise<HealthCheckResponse>;
}

/** True when every peer answers SERVING within timeoutMs; used by GET /healthz. */
export function createPeerHealth(peers: readonly HealthClient[], timeoutMs = 1_000): () => Promise<boolean> {
  return async () => {
    const answers = await Promise.allSettled(peers.map((peer) => peer.check({ service: '' }, { timeoutMs })));
    return answers.every(
      (a) => a.status === 'fulfilled' && a.value.status === HealthCheckResponse_ServingStatus.SERVING,
    );
  };
}
