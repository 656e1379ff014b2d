import { CliError } from '../errors.js';
import { readSecretFile } from './files.js';

/**
 * Variables whose value is a secret, so a deployment gives them as a file: `<NAME>_FILE` names the file (the
 * convention of the official postgres and redis images). Compose files and charts then carry paths, never the
 * values, and `docker inspect` or `kubectl get pod -o yaml` show nothing secret.
 */
export const SECRET_FILE_VARIABLES = [
  'ZENMESH_JOIN_TOKEN',
  'DATABASE_URL',
  'REDIS_URL',
  'ZENMESH_BOOTSTRAP_ADMIN_KEY_SHA256',
] as const;

/**
 * Reads every `<NAME>_FILE` of SECRET_FILE_VARIABLES into `<NAME>` of `env` (in place) and removes the `_FILE`
 * variable. Both set at once is ambiguous and refused; an unreadable, empty or world-readable file stops the
 * start with one line naming the variable.
 */
export function applySecretFiles(env: NodeJS.ProcessEnv): void {
  for (const name of SECRET_FILE_VARIABLES) {
    const file = env[`${name}_FILE`];
    if (file === undefined || file === '') continue;
    if (env[name] !== undefined && env[name] !== '') {
      throw new CliError('ERR_USAGE', `${name} and ${name}_FILE are both set; give one`);
    }
    env[name] = readSecretFile(file, `${name}_FILE`);
    delete env[`${name}_FILE`];
  }
}
