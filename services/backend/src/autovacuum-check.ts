import type { Db } from '@zenmesh/db';
import type { Logger } from '@zenmesh/telemetry';

export type AutovacuumSetting = 'on' | 'off' | 'embedded';

/**
 * Every delivery is written several times (insert, lease, report), so the delivery tables churn: without
 * autovacuum Postgres neither refreshes their statistics nor reclaims their dead rows, and the lease and report
 * statements drift onto plans that read the whole table. Measured on a server with `autovacuum = off`
 * (docs/reliability.md, the soak): delivery fell from 290/s to 104/s within 90 s at a steady 314/s, and came
 * back to 520/s the moment the tables were analysed. The backend cannot analyse them itself (it runs as a role
 * that does not own them), so it says so at start, once, loudly.
 */
export async function checkAutovacuum(db: Db, logger: Pick<Logger, 'warn'>): Promise<AutovacuumSetting> {
  // Embedded PGlite is one process for one small installation; the check is about a Postgres server.
  if (db.kind !== 'pg') return 'embedded';
  const { rows } = await db.query<{ v: string }>(`select current_setting('autovacuum') as v`);
  const setting: AutovacuumSetting = rows[0]?.v === 'on' ? 'on' : 'off';
  if (setting === 'off') {
    logger.warn(
      { autovacuum: 'off' },
      'Postgres has autovacuum off: the delivery tables will lose their statistics and bloat, and delivery slows as they grow; turn autovacuum on, or run ANALYZE (and VACUUM) on core.deliveries, core.events and core.attempts regularly',
    );
  }
  return setting;
}
