import { InvalidArgumentError, Option } from 'commander';
import { parseReplicas } from '../launcher/replicas.js';
import { up } from '../launcher/up.js';
import { listen } from '../listen.js';
import { limit, port, type RegisterCommands } from './context.js';

/** Commands that run things on this machine: the launcher and the local test endpoint. */
const seconds = (value: string) => {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n < 10 || n > 30 * 24 * 3600) {
    throw new InvalidArgumentError('expected whole seconds, 10 to 2592000');
  }
  return n;
};

export const registerLocalCommands: RegisterCommands = (program, ctx, action) => {
  program
    .command('up')
    .description('start all six services on this machine (what `pnpm start` runs)')
    .addOption(new Option('--host <host>', 'address to listen on').default('127.0.0.1'))
    .addOption(new Option('--ingester-port <port>', 'ingester HTTP port').argParser(port).default(8080))
    .addOption(new Option('--bff-port <port>', 'dashboard/admin API HTTP port').argParser(port).default(3000))
    .addOption(new Option('--token-port <port>', 'token service HTTP port').argParser(port).default(4000))
    .addOption(
      new Option(
        '--metrics-port <port>',
        'first /metrics port on 127.0.0.1 (ca, token, backend, egress, ingester, bff get it +0..+5); 0 = free ports',
      )
        .argParser(port)
        .default(0),
    )
    .option('--no-metrics', 'start no /metrics listeners')
    .addOption(new Option('--trust-domain <name>', 'SPIFFE trust domain').default('zenmesh.local'))
    .addOption(new Option('--namespace <name>', 'SPIFFE namespace').default('zenmesh'))
    .addOption(
      new Option(
        '--svid-ttl <seconds>',
        'lifetime of every SVID; renewed at half (default $ZENMESH_SVID_TTL or 3600)',
      ).argParser(seconds),
    )
    .option(
      '--replicas <list>',
      'run ingester, backend or egress as several processes, e.g. ingester=2,backend=2,egress=2 (needs REDIS_URL; backend replicas need DATABASE_URL)',
    )
    .action(
      action(
        async (o: {
          host: string;
          ingesterPort: number;
          bffPort: number;
          tokenPort: number;
          trustDomain: string;
          namespace: string;
          svidTtl?: number;
          metrics: boolean;
          metricsPort: number;
          replicas?: string;
        }) => {
          const { home, out } = ctx();
          const { svidTtl, metrics, metricsPort, replicas, ...rest } = o;
          if (metrics && metricsPort > 65535 - 5)
            throw new InvalidArgumentError('--metrics-port: at most 65530');
          return up(
            {
              home,
              ...rest,
              replicas: parseReplicas(replicas),
              ...(svidTtl === undefined ? {} : { svidTtlSeconds: svidTtl }),
              ...(metrics ? { metrics: { port: metricsPort } } : {}),
            },
            out,
          );
        },
      ),
    );

  program
    .command('listen')
    .description('run a local endpoint that prints deliveries and verifies their signatures')
    .addOption(new Option('--host <host>', 'address to listen on').default('127.0.0.1'))
    .addOption(new Option('--port <port>', 'port').argParser(port).default(9000))
    .option('--secret <whsec>', "the endpoint's signing secret (whsec_...)")
    .addOption(new Option('--count <n>', 'exit after n requests').argParser(limit))
    .action(
      action(async (o: { host: string; port: number; secret?: string; count?: number }) => {
        const { out } = ctx();
        return listen(
          { host: o.host, port: o.port, count: o.count ?? 0, ...(o.secret ? { secret: o.secret } : {}) },
          out,
        );
      }),
    );
};
