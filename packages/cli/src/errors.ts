export type CliErrorCode =
  | 'ERR_USAGE'
  | 'ERR_NOT_RUNNING'
  | 'ERR_API'
  | 'ERR_API_UNREACHABLE'
  | 'ERR_STATE'
  | 'ERR_START_FAILED'
  | 'ERR_UNHEALTHY';

/** Errors the CLI reports as one line on stderr with a non-zero exit code. */
export class CliError extends Error {
  override readonly name = 'CliError';
  readonly code: CliErrorCode;
  readonly status: number | undefined;
  constructor(code: CliErrorCode, message: string, options?: ErrorOptions & { status?: number }) {
    super(message, options);
    this.code = code;
    this.status = options?.status;
  }
}
