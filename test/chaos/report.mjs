// `pnpm chaos` ends here: every row the scenarios wrote (test/chaos/.results/*.json) becomes the table of
// docs/reliability.md, with the machine and the date; the hand-written rest of the page is kept.
// `node test/chaos/report.mjs --merge` after running only some scenario files: their rows replace the rows
// of the same scenario (or are added), the other rows are kept as they were, and the header says which rows
// come from which run.
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';

const REPO = new URL('../..', import.meta.url).pathname;
const dir = process.env.ZENMESH_CHAOS_RESULTS ?? join(REPO, 'test/chaos/.results');
const doc = join(REPO, 'docs/reliability.md');
const BEGIN = '<!-- chaos:begin (written by `pnpm chaos`; edit test/chaos/report.mjs, not this table) -->';
const END = '<!-- chaos:end -->';

let files = [];
try {
  files = readdirSync(dir).filter((f) => f.endsWith('.json'));
} catch {
  // No results: say so below instead of inventing rows.
}
const rows = files
  .map((f) => JSON.parse(readFileSync(join(dir, f), 'utf8')))
  .sort((a, b) => a.at.localeCompare(b.at));
const cell = (v) => String(v ?? '–').replaceAll('|', '\\|');
const ms = (v) => (v === null || v === undefined ? '–' : `${Math.round(v)} ms`);
const cpu = cpus();
const machine = `${cpu.length} × ${cpu[0]?.model.trim() ?? 'CPU'}, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}, ${process.platform}/${process.arch}`;
const line = (r) =>
  `| ${cell(r.scenario)} | ${cell(r.load)} | ${cell(r.fault)} | ${r.sent} | ${r.accepted} | ${r.delivered} | ${r.lost} | ${r.duplicated} | ${ms(r.p99Ms)} | ${ms(r.recoveryMs)} | ${cell(r.notes)} |`;
const now = new Date().toISOString().slice(0, 16).replace('T', ' ');
const minute = (iso) => iso.slice(0, 16).replace('T', ' ');
const span = (rs) => `${minute(rs[0]?.at ?? '')} and ${minute(rs.at(-1)?.at ?? '').slice(11)}`;
const page = readFileSync(doc, 'utf8');
const start = page.indexOf(BEGIN);
const end = page.indexOf(END);
if (start < 0 || end < start) throw new Error(`${doc}: the ${BEGIN} … ${END} markers are missing`);
const HEAD =
  '| scenario | load | fault | sent | accepted | delivered | lost | duplicated | p99 | recovery | notes |';
let header = `_Generated ${now} UTC on ${machine}; ${rows.length} scenario rows, each from its own run (shared machine: other work ran beside it)._`;
let body = rows.map(line);
if (process.argv.includes('--merge')) {
  const old = page
    .slice(start + BEGIN.length, end)
    .trim()
    .split('\n');
  const fresh = new Map(rows.map((r) => [cell(r.scenario), line(r)]));
  const kept = old.filter((l) => l.startsWith('| ') && l !== HEAD && !fresh.has(l.split(' | ')[0].slice(2)));
  const notes = old.filter((l) => l.startsWith('_'));
  header = [
    ...notes,
    `_Merged ${now} UTC on ${machine}: ${rows.length} rows re-run between ${span(rows)} UTC (${rows.map((r) => cell(r.scenario)).join('; ')}); the other ${kept.length} kept from the run above._`,
  ].join('\n\n');
  body = [...kept, ...fresh.values()];
}
const table = [header, '', HEAD, '|---|---|---|---|---|---|---|---|---|---|---|', ...body].join('\n');
writeFileSync(doc, `${page.slice(0, start + BEGIN.length)}\n${table}\n${page.slice(end)}`);
const lost = rows.reduce((n, r) => n + r.lost, 0);
console.log(`docs/reliability.md: ${rows.length} rows, ${lost} lost in total`);
process.exitCode = rows.length === 0 ? 1 : 0;
