import { Health, HealthCheckResponse_ServingStatus } from '@zenmesh/proto';
import { createMeshChannel, type IdentityProvider, type MessageIntegrity } from '@zenmesh/rpc';
import { CliError } from '../errors.js';
import { type Endpoints, paths } from '../home.js';
import type { Output } from '../output.js';
import type { TrustDomainOptions } from './state.js';

/** What these read of the launcher's options. */
type MeshOptions = TrustDomainOptions & { home: string };

/** Every service's health over mTLS (as the operator's `sa/cli`) and every HTTP face's /healthz. */
export async function checkHealth(
  grpc: Record<string, string>,
  http: Record<string, string>,
  identity: IdentityProvider,
  integrity: MessageIntegrity,
  options: MeshOptions,
  out: Output,
): Promise<void> {
  out.progress('Checking health over mTLS');
  await Promise.all([
    ...Object.entries(grpc).map(async ([service, address]) => {
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
    ...Object.entries(http).map(async ([service, base]) => {
      const res = await fetch(new URL('/healthz', base), { signal: AbortSignal.timeout(5000) });
      if (!res.ok) throw new CliError('ERR_START_FAILED', `${service} /healthz answered ${res.status}`);
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
