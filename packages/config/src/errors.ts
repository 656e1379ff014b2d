export type ConfigErrorCode = 'ERR_CONFIG';

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  readonly code: ConfigErrorCode = 'ERR_CONFIG';
}
