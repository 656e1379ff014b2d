import { createDatabase, createScratchDatabase, type Db } from '@zenmesh/db';

const ADMIN_URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

/**
 * The two databases the backend runs on, for `describe.each`: a fresh scratch database on the real Postgres,
 * and embedded PGlite. Each `open()` gives a new one and the step that removes it.
 */
export const DATABASE_KINDS: ReadonlyArray<{
  name: string;
  open(): Promise<{ db: Db; cleanup: () => Promise<void> }>;
}> = [
  {
    name: 'postgres',
    open: async () => {
      const scratch = await createScratchDatabase(ADMIN_URL);
      return { db: await createDatabase({ url: scratch.url }), cleanup: scratch.drop };
    },
  },
  { name: 'pglite', open: async () => ({ db: await createDatabase(), cleanup: async () => {} }) },
];
