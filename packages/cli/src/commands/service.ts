import { InvalidArgumentError } from 'commander';
import { checkServiceHealth } from '../deploy/health-check.js';
import { isMeshService, MESH_SERVICES, type MeshService } from '../deploy/mesh-services.js';
import { runServiceInProcess } from '../deploy/run-in-process.js';
import { CliError } from '../errors.js';
import type { RegisterCommands } from './context.js';

const serviceName = (value: string): MeshService => {
  if (!isMeshService(value)) throw new InvalidArgumentError(`expected one of ${MESH_SERVICES.join(', ')}`);
  return value;
};

/** The service named on the command line, else $ZENMESH_SERVICE (what an image's HEALTHCHECK can use). */
const pick = (name: MeshService | undefined): MeshService => {
  const chosen = name ?? process.env.ZENMESH_SERVICE;
  if (chosen === undefined || chosen === '') {
    throw new CliError('ERR_USAGE', `name the service (${MESH_SERVICES.join(', ')}) or set ZENMESH_SERVICE`);
  }
  if (!isMeshService(chosen)) throw new CliError('ERR_USAGE', `ZENMESH_SERVICE: unknown service ${chosen}`);
  return chosen;
};

/** Commands a container or pod runs: one service in the foreground, and its health check. */
export const registerServiceCommands: RegisterCommands = (program, ctx, action) => {
  program
    .command('service')
    .description(
      'run one service in the foreground (the container entry point); <NAME>_FILE gives a secret as a file',
    )
    .argument('[name]', `${MESH_SERVICES.join(' | ')} (default $ZENMESH_SERVICE)`, serviceName)
    .action(
      action(async (name: MeshService | undefined) => {
        await runServiceInProcess(pick(name));
        // The service's runService owns the process from here: it exits on SIGTERM or a failed start.
        return new Promise<number>(() => {});
      }),
    );

  program
    .command('health')
    .description("check one service's health from inside its container, with its own environment and SVID")
    .argument('[name]', `${MESH_SERVICES.join(' | ')} (default $ZENMESH_SERVICE)`, serviceName)
    .action(
      action(async (name: MeshService | undefined) => {
        const { out } = ctx();
        const result = await checkServiceHealth(pick(name), process.env);
        out.result(result, () =>
          out.line(
            `${result.service}: ${result.healthy ? 'healthy' : 'UNHEALTHY'} (${result.via}): ${result.detail}`,
          ),
        );
        return result.healthy ? 0 : 1;
      }),
    );
};
