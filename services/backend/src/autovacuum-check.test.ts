import { createDatabase, createScratchDatabase } from '@zenmesh/db';
import { describe, expect, it } from 'vitest';
import { checkAutovacuum } from './autovacuum-check.js';

const ADMIN_URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

describe('checkAutovacuum', () => {
  it("reports the server's own setting and warns exactly when autovacuum is off", async () => {
    const scratch = await createScratchDatabase(ADMIN_URL);
    const db = await createDatabase({ url: scratch.url });
    try {
      const { rows } = await db.query<{ autovacuum: string }>('show autovacuum');
      const warnings: unknown[] = [];
      const setting = await checkAutovacuum(db, { warn: (...args: unknown[]) => warnings.push(args) });
      expect(setting).toBe(rows[0]?.autovacuum);
      expect(warnings).toHaveLength(setting === 'off' ? 1 : 0);
      if (setting === 'off') expect(JSON.stringify(warnings[0])).toMatch(/ANALYZE/);
    } finally {
      await db.close();
      await scratch.drop();
    }
  });

  it('says nothing for embedded PGlite', async () => {
    const db = await createDatabase();
    const warnings: unknown[] = [];
    try {
      expect(await checkAutovacuum(db, { warn: (...args: unknown[]) => warnings.push(args) })).toBe(
        'embedded',
      );
      expect(warnings).toEqual([]);
    } finally {
      await db.close();
    }
  });
});
