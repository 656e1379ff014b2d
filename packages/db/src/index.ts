export { createDatabase, type DatabaseOptions } from './create-database.js';
export { DbError, type DbErrorCode, isDbError } from './errors.js';
export { type MigrateOptions, type Migration, migrate } from './migrate.js';
export { createScratchDatabase, type ScratchDatabase } from './scratch-database.js';
export { prepared } from './statement.js';
export type { Db, DbLogger, Queryable, QueryResult, Sql, Statement, Tx } from './types.js';
