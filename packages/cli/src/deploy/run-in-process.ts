import type { MeshService } from './mesh-services.js';
import { applySecretFiles } from './secret-env.js';

/**
 * Runs one service's main.ts in this process, as the launcher's fork would, after turning every
 * `<NAME>_FILE` secret into its variable: the container entry point (`zenmesh service backend`). The service's
 * own `runService` then owns the process: readiness logged, SIGTERM drains and exits 0, a bad configuration
 * is one line on stderr and exit 1.
 */
export async function runServiceInProcess(
  service: MeshService,
  env: NodeJS.ProcessEnv = process.env,
): Promise<void> {
  applySecretFiles(env);
  await import(`@zenmesh/${service}/main`);
}
