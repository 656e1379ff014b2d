export interface QueryResult<T> {
  rows: T[];
  /** Rows returned, or changed by INSERT/UPDATE/DELETE. */
  rowCount: number;
}

/**
 * A hot statement with a name: on Postgres it is parsed and planned once per connection (a named
 * prepared statement) and later calls only bind and execute it. The text must be constant for the
 * name (see `prepared`); PGlite runs the text as usual.
 */
export interface Statement {
  readonly name: string;
  readonly text: string;
}

/** SQL text, or a named statement. */
export type Sql = string | Statement;

/** Anything that runs SQL: the database itself or an open transaction. */
export interface Queryable {
  /** One parameterised statement (`$1`, `$2`, ...). */
  query<T = Record<string, unknown>>(sql: Sql, params?: readonly unknown[]): Promise<QueryResult<T>>;
  /** A script of several statements without parameters (migrations). */
  exec(sql: string): Promise<void>;
}

export type Tx = Queryable;

export interface Db extends Queryable {
  readonly kind: 'pg' | 'pglite';
  /** BEGIN; fn; COMMIT — ROLLBACK and rethrow when fn throws. */
  transaction<T>(fn: (tx: Tx) => Promise<T>): Promise<T>;
  /**
   * A transaction whose `app.tenant_id` setting is `tenantId` (transaction-scoped, like SET LOCAL),
   * which is what the row-level security policies key on.
   */
  withTenant<T>(tenantId: string, fn: (tx: Tx) => Promise<T>): Promise<T>;
  /**
   * From now on every statement runs as `role` (pg: a fresh pool whose connections start with
   * `-c role=<role>`, the old pool is closed; PGlite: `SET ROLE` on its one connection). Refuses
   * (ERR_ROLE) unless the role exists, is not a superuser and lacks BYPASSRLS, so that row-level
   * security really applies. Used after migrations, which need the owner.
   */
  assumeRole(role: string): Promise<void>;
  /** The role statements run as (`current_user`). */
  readonly role: string | undefined;
  close(): Promise<void>;
}

/** The subset of a pino logger this package uses. */
export interface DbLogger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}
