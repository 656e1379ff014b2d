import { ZenMeshError } from '@zenmesh/errors';

/** Stable codes callers narrow on (check `code`, not `instanceof`, across packages). */
export type DbErrorCode =
  | 'ERR_UNIQUE_VIOLATION'
  | 'ERR_FOREIGN_KEY_VIOLATION'
  | 'ERR_CHECK_VIOLATION'
  | 'ERR_NOT_NULL_VIOLATION'
  | 'ERR_PERMISSION_DENIED'
  | 'ERR_SERIALIZATION'
  | 'ERR_TIMEOUT'
  | 'ERR_CONNECTION'
  | 'ERR_QUERY'
  | 'ERR_TX_CLOSED'
  | 'ERR_CLOSED'
  | 'ERR_MIGRATION'
  | 'ERR_ROLE';

export class DbError extends ZenMeshError<DbErrorCode> {
  override readonly name = 'DbError';
  /** Postgres SQLSTATE when the server reported one. */
  readonly sqlState: string | undefined;
  /** Name of the violated constraint, when there was one (e.g. `events_source_delivery_key`). */
  readonly constraint: string | undefined;

  constructor(
    code: DbErrorCode,
    message: string,
    options: { cause?: unknown; sqlState?: string | undefined; constraint?: string | undefined } = {},
  ) {
    super(code, message, options.cause === undefined ? undefined : { cause: options.cause });
    this.sqlState = options.sqlState;
    this.constraint = options.constraint;
  }
}

export const isDbError = (err: unknown, code?: DbErrorCode): err is DbError =>
  err instanceof Error &&
  (err as { name?: unknown }).name === 'DbError' &&
  typeof (err as { code?: unknown }).code === 'string' &&
  (code === undefined || (err as DbError).code === code);

// SQLSTATE classes: https://www.postgresql.org/docs/current/errcodes-appendix.html
const BY_SQLSTATE: Record<string, DbErrorCode> = {
  '23505': 'ERR_UNIQUE_VIOLATION',
  '23503': 'ERR_FOREIGN_KEY_VIOLATION',
  '23514': 'ERR_CHECK_VIOLATION',
  '23502': 'ERR_NOT_NULL_VIOLATION',
  '42501': 'ERR_PERMISSION_DENIED',
  '40001': 'ERR_SERIALIZATION',
  '40P01': 'ERR_SERIALIZATION',
  '57014': 'ERR_TIMEOUT',
  '57P01': 'ERR_CONNECTION',
  '08000': 'ERR_CONNECTION',
  '08003': 'ERR_CONNECTION',
  '08006': 'ERR_CONNECTION',
};

const CONNECTION_ERRNO = new Set(['ECONNREFUSED', 'ECONNRESET', 'ENOTFOUND', 'ETIMEDOUT', 'EPIPE']);

/** Wraps a driver error (pg or PGlite, both carry `code` = SQLSTATE) into a DbError; DbErrors pass through. */
export function toDbError(err: unknown): DbError {
  if (isDbError(err)) return err;
  const e = err as { code?: unknown; constraint?: unknown; message?: unknown };
  const state = typeof e?.code === 'string' ? e.code : undefined;
  const message = typeof e?.message === 'string' ? e.message : String(err);
  if (state !== undefined && CONNECTION_ERRNO.has(state)) {
    return new DbError('ERR_CONNECTION', `database unreachable: ${message}`, { cause: err });
  }
  const isSqlState = state !== undefined && /^[0-9A-Z]{5}$/.test(state);
  const code =
    (isSqlState && BY_SQLSTATE[state]) ||
    (isSqlState && state.startsWith('08') ? 'ERR_CONNECTION' : 'ERR_QUERY');
  return new DbError(code, message, {
    cause: err,
    sqlState: isSqlState ? state : undefined,
    constraint: typeof e?.constraint === 'string' ? e.constraint : undefined,
  });
}
