import { ZenMeshError } from '@zenmesh/errors';

export type ConfigErrorCode = 'ERR_CONFIG';

/** A missing or invalid variable: the message is the one line an operator reads (`NAME: unset: ...`). */
export class ConfigError extends ZenMeshError<ConfigErrorCode> {
  override readonly name = 'ConfigError';
  constructor(message: string, options?: ErrorOptions) {
    super('ERR_CONFIG', message, options);
  }
}
