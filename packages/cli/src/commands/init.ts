import { join } from 'node:path';
import { InvalidArgumentError, Option } from 'commander';
import { bootstrapCompose } from '../deploy/compose-bootstrap.js';
import { setupDatabase } from '../deploy/database-setup.js';
import { parseOwner, readSecretFile } from '../deploy/files.js';
import { bootstrapK8s } from '../deploy/k8s-bootstrap.js';
import { isMeshService, MESH_SERVICES, type MeshService } from '../deploy/mesh-services.js';
import { initPod } from '../deploy/pod-init.js';
import { CliError } from '../errors.js';
import type { RegisterCommands } from './context.js';

const ttl = (value: string) => {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n < 60 || n > 24 * 3600)
    throw new InvalidArgumentError('expected 60-86400 seconds');
  return n;
};
const owner = (value: string) => {
  try {
    return parseOwner(value);
  } catch (err) {
    throw new InvalidArgumentError((err as Error).message);
  }
};
const serviceName = (value: string): MeshService => {
  if (!isMeshService(value)) throw new InvalidArgumentError(`expected one of ${MESH_SERVICES.join(', ')}`);
  return value;
};
const trustOptions = [
  () => new Option('--trust-domain <name>', 'SPIFFE trust domain').default('zenmesh.local'),
  () => new Option('--namespace <name>', 'SPIFFE namespace').default('zenmesh'),
];

/** `zenmesh init …`: what deployments run once (compose's init service, the chart's Job and init containers). */
export const registerInitCommands: RegisterCommands = (program, ctx, action) => {
  const init = program
    .command('init')
    .description('bootstrap a deployment: trust domain, secrets, database roles, join tokens');

  const compose = init
    .command('compose')
    .description("docker compose's one-shot init: every volume's secrets, the CA, and fresh join tokens")
    .requiredOption('--root <dir>', 'where the volumes are mounted (one directory per volume)')
    .addOption(
      new Option('--token-ttl <seconds>', 'lifetime of each join token').argParser(ttl).default(1800),
    )
    .option('--redis-address <host:port>', 'Redis as the services reach it', 'redis:6379')
    .option('--postgres-address <host:port>', 'Postgres as the services reach it', 'postgres:5432')
    .option('--database <name>', 'the database', 'zenmesh')
    .addOption(new Option('--service-owner <uid:gid>', "owner of the services' files").argParser(owner))
    .addOption(
      new Option('--postgres-owner <uid:gid>', "owner of the postgres container's files").argParser(owner),
    )
    .addOption(
      new Option('--redis-owner <uid:gid>', "owner of the redis container's files").argParser(owner),
    );
  for (const o of trustOptions) compose.addOption(o());
  compose.action(
    action(async (o: Parameters<typeof bootstrapCompose>[0] & { tokenTtl: number }) => {
      const { out } = ctx();
      const result = await bootstrapCompose({ ...o, tokenTtlSeconds: o.tokenTtl });
      out.result(result, () => {
        out.line(
          `Trust domain ${result.trustDomain}: ${result.createdCa ? 'CA created' : 'CA kept'}, master key ${result.createdMasterKey ? 'created' : 'kept'}`,
        );
        for (const t of result.joinTokens)
          out.line(`  join token for ${t.spiffeId} (one use, until ${t.expiresAt})`);
        out.line(`  admin API key: ${result.adminKeyFile}${result.createdAdminKey ? ' (created now)' : ''}`);
      });
      return 0;
    }),
  );

  init
    .command('database')
    .description('apply the migrations as the database superuser and set up the login roles the services use')
    .requiredOption('--admin-url <url>', 'postgres:// URL of the superuser, without its password')
    .requiredOption(
      '--secrets <dir>',
      'holds superuser-password, zenmesh_app-password, zenmesh_token-password',
    )
    .action(
      action(async (o: { adminUrl: string; secrets: string }) => {
        const { out } = ctx();
        let url: URL;
        try {
          url = new URL(o.adminUrl);
        } catch {
          throw new CliError('ERR_USAGE', '--admin-url: expected a postgres:// URL');
        }
        if (url.password !== '')
          throw new CliError('ERR_USAGE', '--admin-url: give the password as a file, not in the URL');
        url.password = encodeURIComponent(
          readSecretFile(join(o.secrets, 'superuser-password'), 'superuser-password'),
        );
        const result = await setupDatabase({
          adminUrl: url.toString(),
          passwords: {
            backend: readSecretFile(join(o.secrets, 'zenmesh_app-password'), 'zenmesh_app-password'),
            token: readSecretFile(join(o.secrets, 'zenmesh_token-password'), 'zenmesh_token-password'),
          },
          progress: (t) => out.progress(t),
        });
        out.result(result, () => {
          out.line(
            `Migrations applied: core ${result.applied.core.length}, token ${result.applied.token.length}`,
          );
          out.line(`Login roles ready (no superuser, no BYPASSRLS): ${result.roles.slice(0, 2).join(', ')}`);
        });
        return 0;
      }),
    );

  const pod = init
    .command('pod')
    .description(
      "a Kubernetes init container: the service's secrets from its Secret volume, and its own join token",
    )
    .requiredOption('--service <name>', MESH_SERVICES.join(' | '), serviceName)
    .requiredOption('--secrets-from <dir>', 'the master key Secret volume')
    .requiredOption('--secrets-to <dir>', "the service's ZENMESH_SECRETS_DIR")
    .option('--token-out <file>', "write this pod's one-time join token here")
    .addOption(new Option('--token-ttl <seconds>', 'lifetime of the join token').argParser(ttl).default(600))
    .option('--ca-seed <dir>', 'the ca only: the CA seed Secret volume, copied once into an empty volume')
    .option('--pgpass-out <file>', 'write a libpq password file for the database role here')
    .option('--postgres-address <host:port>', 'Postgres, for --pgpass-out')
    .option('--database <name>', 'the database, for --pgpass-out')
    .option('--role <name>', 'the login role, for --pgpass-out')
    .option('--password-file <file>', "the role's password, for --pgpass-out");
  for (const o of trustOptions) pod.addOption(o());
  pod.action(
    action(
      async (o: {
        service: MeshService;
        secretsFrom: string;
        secretsTo: string;
        tokenOut?: string;
        tokenTtl: number;
        caSeed?: string;
        pgpassOut?: string;
        postgresAddress?: string;
        database?: string;
        role?: string;
        passwordFile?: string;
        trustDomain: string;
        namespace: string;
      }) => {
        const { out } = ctx();
        let pgpass: Parameters<typeof initPod>[0]['pgpass'];
        if (o.pgpassOut !== undefined) {
          if (!o.postgresAddress || !o.database || !o.role || !o.passwordFile) {
            throw new CliError(
              'ERR_USAGE',
              '--pgpass-out needs --postgres-address, --database, --role and --password-file',
            );
          }
          pgpass = {
            file: o.pgpassOut,
            address: o.postgresAddress,
            database: o.database,
            role: o.role,
            passwordFile: o.passwordFile,
          };
        }
        const result = initPod({
          service: o.service,
          trustDomain: o.trustDomain,
          namespace: o.namespace,
          secretsFrom: o.secretsFrom,
          secretsTo: o.secretsTo,
          tokenTtlSeconds: o.tokenTtl,
          ...(o.tokenOut === undefined ? {} : { tokenOut: o.tokenOut }),
          ...(o.caSeed === undefined ? {} : { caSeed: o.caSeed }),
          ...(pgpass === undefined ? {} : { pgpass }),
        });
        out.result(result, () =>
          out.line(
            `${result.service}: copied ${result.copied.join(', ')}${result.caSeeded ? '; CA seeded' : ''}${result.joinToken ? `; join token for ${result.joinToken.spiffeId} until ${result.joinToken.expiresAt}` : ''}`,
          ),
        );
        return 0;
      },
    ),
  );

  const k8s = init
    .command('k8s')
    .description(
      'make the trust domain for the Helm chart on this machine, as files for kubectl create secret',
    )
    .requiredOption('--out <dir>', 'where to write the files (keep it private)')
    .option('--release <name>', 'the Helm release name', 'zenmesh');
  for (const o of trustOptions) k8s.addOption(o());
  k8s.action(
    action(async (o: { out: string; release: string; trustDomain: string; namespace: string }) => {
      const { out } = ctx();
      const result = await bootstrapK8s(o);
      out.result(result, () => {
        out.line(
          `Trust domain ${o.trustDomain} in ${result.out} (${result.createdCa ? 'CA created' : 'CA kept'})`,
        );
        out.line('Create the Secrets, then install the chart:');
        for (const c of result.commands) out.line(`  ${c}`);
      });
      return 0;
    }),
  );
};
