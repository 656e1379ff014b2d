// What the delivery bench reads from outside the mesh to explain a run: CPU and RSS of each service
// process and of the Postgres backends serving the bench database (/proc), SQL statements and commits
// (pg_stat_statements, pg_stat_database), and signed internal calls (one Redis nonce key per call).
import { readdirSync, readFileSync } from 'node:fs';
import pg from 'pg';

const TICK_MS = 1000 / 100; // USER_HZ is 100 on Linux

const read = (file) => {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return '';
  }
};

/** utime + stime of one process in ms, and its RSS in MiB (0 when it is gone). */
function procStat(pid) {
  const stat = read(`/proc/${pid}/stat`);
  if (stat === '') return { cpuMs: 0, rssMiB: 0 };
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const rssPages = Number(fields[21]);
  return { cpuMs: (Number(fields[11]) + Number(fields[12])) * TICK_MS, rssMiB: (rssPages * 4096) / 2 ** 20 };
}

const allPids = () => readdirSync('/proc').filter((d) => /^\d+$/.test(d));

/** The service processes forked by the `zenmesh up` process `parentPid`, by service name. */
export function servicePids(parentPid) {
  const out = {};
  for (const pid of allPids()) {
    const stat = read(`/proc/${pid}/stat`);
    const ppid = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1];
    if (ppid !== String(parentPid)) continue;
    const m = /services\/([a-z]+)\/dist\/main\.js/.exec(read(`/proc/${pid}/cmdline`).replaceAll('\0', ' '));
    if (m) out[m[1]] = Number(pid);
  }
  return out;
}

/** Postgres backend processes connected to `database` (their process title names it). */
const postgresPids = (database) =>
  allPids().filter(
    (pid) =>
      read(`/proc/${pid}/cmdline`).startsWith(`postgres: `) &&
      read(`/proc/${pid}/cmdline`).includes(` ${database} `),
  );

/** CPU ms so far of each service and of Postgres for `database` (backends seen at sampling). */
export function cpuSnapshot(services, database) {
  const snap = {};
  for (const [name, pid] of Object.entries(services)) snap[name] = procStat(pid).cpuMs;
  snap.postgres = postgresPids(database).reduce((sum, pid) => sum + procStat(pid).cpuMs, 0);
  return snap;
}

export const rssOf = (services) =>
  Object.fromEntries(Object.entries(services).map(([name, pid]) => [name, procStat(pid).rssMiB]));

/** SQL counters of one database: reset, then read statements by kind and commits. */
export async function sqlCounters(adminUrl, database) {
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  await client.query('create extension if not exists pg_stat_statements');
  const commits = async () =>
    Number(
      (await client.query('select xact_commit from pg_stat_database where datname = $1', [database])).rows[0]
        .xact_commit,
    );
  let base = 0;
  return {
    async reset() {
      await client.query(
        'select pg_stat_statements_reset(0, (select oid from pg_database where datname = $1), 0)',
        [database],
      );
      await client.query('select pg_stat_clear_snapshot()');
      base = await commits();
    },
    /** Statements (calls) and commits since reset; top statements by calls. */
    async read() {
      // pg_stat_database is updated when a backend reports; give the idle ones a moment.
      await new Promise((r) => setTimeout(r, 1200));
      await client.query('select pg_stat_clear_snapshot()');
      const { rows } = await client.query(
        `select calls::int8 as calls, round(total_exec_time::numeric, 1) as ms, left(regexp_replace(query, '\\s+', ' ', 'g'), 110) as query
           from pg_stat_statements s join pg_database d on d.oid = s.dbid
          where d.datname = $1 order by calls desc`,
        [database],
      );
      return {
        statements: rows.map((r) => ({ ...r, calls: Number(r.calls) })),
        commits: (await commits()) - base,
      };
    },
    close: () => client.end(),
  };
}

/**
 * Signed internal calls so far: each one claims a nonce key `<prefix><22 base64url characters>` (kept for
 * 2 × the window). Other keys under the same prefix (the ingester's dedup claims and rate-limit buckets,
 * `<prefix>ingest:…`) are not calls and are not counted.
 */
export async function nonceCount(redis, prefix) {
  const nonce = /^[A-Za-z0-9_-]{22}$/;
  let cursor = '0';
  let n = 0;
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
    cursor = next;
    for (const k of keys) if (nonce.test(k.slice(prefix.length))) n += 1;
  } while (cursor !== '0');
  return n;
}

/**
 * ANALYZE of the bench's fresh database, after its warm-up: without it the planner has no statistics for
 * tables that went from empty to thousands of rows within seconds (autovacuum analyses them on its first
 * visit, up to a minute later on a busy server), believes a tenant holds a handful of rows, and scans the
 * whole tenant for each lookup by id (docs/performance.md). `BENCH_NO_ANALYZE=1` measures without it.
 */
export async function analyzeDatabase(url) {
  if (process.env.BENCH_NO_ANALYZE === '1') return;
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query('analyze');
  } finally {
    await client.end();
  }
}
