import { createServer } from 'node:net';
import { createDatabase, DbError } from '@zenmesh/db';
import { Code } from '@zenmesh/rpc';
import { describe, expect, it } from 'vitest';
import { invalid } from './errors.js';
import { edge, isDatabaseUnavailable } from './handler-kit.js';

// Issue 14: a Postgres restart mid-burst must reach the provider as 503 + Retry-After (retry later), never
// as 500: the backend answers UNAVAILABLE database_unavailable for a database that is down or restarting.
describe('edge: a database that is gone is UNAVAILABLE', () => {
  const pgError = (code: string, message = 'x') => Object.assign(new Error(message), { code });

  it.each([
    ['57P01 admin shutdown', pgError('57P01', 'terminating connection due to administrator command')],
    ['57P03 cannot connect now', pgError('57P03', 'the database system is starting up')],
    ['08006 connection failure', pgError('08006')],
    ['ECONNREFUSED', pgError('ECONNREFUSED')],
    ['a terminated connection', new Error('Connection terminated unexpectedly')],
  ])('%s → UNAVAILABLE database_unavailable', async (_name, err) => {
    expect(isDatabaseUnavailable(err)).toBe(true);
    await expect(edge(() => Promise.reject(err))).rejects.toMatchObject({
      code: Code.UNAVAILABLE,
      reason: 'database_unavailable',
    });
  });

  it('a deadlock or serialization failure is UNAVAILABLE database_conflict (nothing written, retry)', async () => {
    for (const sqlState of ['40P01', '40001']) {
      const err = new DbError('ERR_SERIALIZATION', 'deadlock detected', { sqlState });
      await expect(edge(() => Promise.reject(err))).rejects.toMatchObject({
        code: Code.UNAVAILABLE,
        reason: 'database_conflict',
      });
    }
  });

  it('leaves store refusals and real bugs alone', async () => {
    await expect(edge(() => Promise.reject(invalid('bad url')))).rejects.toMatchObject({
      code: Code.INVALID_ARGUMENT,
    });
    const syntax = pgError('42601', 'syntax error');
    expect(isDatabaseUnavailable(syntax)).toBe(false);
    await expect(edge(() => Promise.reject(syntax))).rejects.toBe(syntax);
  });

  it('recognises what the database layer really throws: refused, and a server in crash recovery', async () => {
    // A port that was free a moment ago: connection refused.
    const port = await new Promise<number>((resolve) => {
      const s = createServer().listen(0, '127.0.0.1', () => {
        const p = (s.address() as { port: number }).port;
        s.close(() => resolve(p));
      });
    });
    const refused = await createDatabase({ url: `postgres://postgres@127.0.0.1:${port}/none` })
      .then((db) => db.query('select 1').finally(() => db.close()))
      .catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(Error);
    expect(isDatabaseUnavailable(refused)).toBe(true);
    // As the pg driver's errors reach edge: wrapped by @zenmesh/db with their SQLSTATE.
    const recovering = new DbError('ERR_QUERY', 'the database system is in recovery mode', {
      sqlState: '57P03',
    });
    expect(isDatabaseUnavailable(recovering)).toBe(true);
    expect(isDatabaseUnavailable(new DbError('ERR_QUERY', 'syntax', { sqlState: '42601' }))).toBe(false);
  });
});
