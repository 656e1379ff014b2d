// Writes one benchmark's results into docs/benchmarks.md, between markers of its own, with the machine and
// the date, so benchmarks run separately never overwrite each other's sections.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';

const FILE = new URL('../../docs/benchmarks.md', import.meta.url);
const HEADER = `# Benchmarks

Measured by the scripts in \`bench/\` (\`pnpm bench\` runs them all; \`pnpm bench <name>\` one). Each section
says the machine and the date it was measured on; numbers from different machines are not comparable.
Loopback only; every loop is bounded.
`;

export function machine() {
  const cpu = cpus()[0]?.model?.trim() ?? 'unknown CPU';
  return `${cpus().length} × ${cpu}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}, ${process.platform}/${process.arch}`;
}

/** Replaces (or appends) the section `name` with `markdown`. */
export function writeSection(name, title, markdown) {
  const begin = `<!-- bench:${name} -->`;
  const end = `<!-- /bench:${name} -->`;
  const section = `${begin}\n## ${title}\n\n_Measured ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC on ${machine()}._\n\n${markdown.trim()}\n${end}`;
  let text = existsSync(FILE) ? readFileSync(FILE, 'utf8') : HEADER;
  const a = text.indexOf(begin);
  const b = text.indexOf(end);
  text =
    a >= 0 && b > a
      ? text.slice(0, a) + section + text.slice(b + end.length)
      : `${text.trimEnd()}\n\n${section}\n`;
  writeFileSync(FILE, text);
}

/** p-th percentile (0-100) of a list of numbers. */
export function percentile(values, p) {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((x, y) => x - y);
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i];
}

export function progress(text) {
  process.stderr.write(`${text}\n`);
}
