import { Health, HealthCheckResponse_ServingStatus } from '@zenmesh/proto';
import { createMeshChannel, type IdentityProvider, type MessageIntegrity } from '@zenmesh/rpc';
import { CliError } from '../errors.js';
import { type Endpoints, paths } from '../home.js';
import type { Output } from '../output.js';
import type { TrustDomainOptions } from './state.js';

/** How long an HTTP face may answer /healthz with 503 after it reported ready. */
const HTTP_READY_MS = 20_000;

/** What these read of the launcher's options. */
type MeshOptions = TrustDomainOptions & { home: string };

/**
 * Every process's health over mTLS (as the operator's `sa/cli`; `[service, address]` pairs, one per replica)
 * and every HTTP face's /healthz (`[service, base URL]`).
 */
export async function checkHealth(
  grpc: ReadonlyArray<readonly [string, string]>,
  http: ReadonlyArray<readonly [string, string]>,
  identity: IdentityProvider,
  integrity: MessageIntegrity,
  options: MeshOptions,
  out: Output,
): Promise<void> {
  out.progress('Checking health over mTLS');
  await Promise.all([
    ...grpc.map(async ([service, address]) => {
      const channel = createMeshChannel({
        address,
        identity,
        peer: service,
        trustDomain: options.trustDomain,
        namespace: options.namespace,
        integrity,
      });
      try {
        const res = await channel.client(Health).check({ service: '' });
        if (res.status !== HealthCheckResponse_ServingStatus.SERVING) {
          throw new CliError(
            'ERR_START_FAILED',
            `${service} reports ${HealthCheckResponse_ServingStatus[res.status]}`,
          );
        }
      } finally {
        channel.close();
      }
    }),
    // A face reports its peers' health, which a just-started process may not have seen yet: poll (bounded).
    ...http.map(async ([service, base]) => {
      const deadline = Date.now() + HTTP_READY_MS;
      for (;;) {
        const res = await fetch(new URL('/healthz', base), { signal: AbortSignal.timeout(5000) });
        await res.arrayBuffer();
        if (res.ok) return;
        if (Date.now() > deadline) {
          throw new CliError('ERR_START_FAILED', `${service} /healthz answered ${res.status}`);
        }
        await new Promise((r) => setTimeout(r, 250));
      }
    }),
  ]);
}

export function printEndpoints(
  e: Endpoints,
  options: MeshOptions,
  adminKeyCreated: boolean,
  out: Output,
): void {
  const p = paths(options.home);
  out.result(e, () => {
    out.line(`Zen Mesh is up (trust domain ${options.trustDomain})`);
    out.line(`  ingester  ${e.ingester}   POST /v1/webhooks/{sourceId}`);
    out.line(`  bff       ${e.bff}   admin API /api/v1, web console ${e.bff}/console/`);
    out.line(`  token     ${e.token}`);
    out.line(
      `  internal gRPC, mutual TLS + per-message HMAC (${process.env.REDIS_URL ? 'nonces in Redis' : 'nonces in-process'}): ${Object.entries(
        e.grpc,
      )
        .map(([k, v]) => `${k} ${v}`)
        .join(', ')}`,
    );
    const scrape = Object.entries(e.metrics ?? {});
    if (scrape.length > 0) {
      out.line('  metrics (Prometheus, GET /metrics, loopback only):');
      for (const [service, url] of scrape) out.line(`    ${service.padEnd(9)} ${url}`);
    } else {
      out.line('  metrics: off (zenmesh up --metrics-port <port>; 0 picks free ports)');
    }
    out.line(`  admin API key: ${p.adminKey}${adminKeyCreated ? ' (created now; mode 0600)' : ''}`);
    out.line(`  state: ${options.home}   logs: ${p.logs}`);
    out.line('Press Ctrl-C to stop.');
  });
}
