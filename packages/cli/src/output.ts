/** Where commands print: human text by default, one JSON document with --json. */
export interface Output {
  readonly json: boolean;
  /** Prints `data` as JSON, or calls `human` to print text. */
  result(data: unknown, human: () => void): void;
  line(text?: string): void;
  /** Progress for long operations: stderr, so stdout stays clean for --json consumers. */
  progress(text: string): void;
  /** A warning the user must see: stderr, with --json too (it does not disturb the JSON on stdout). */
  warn(text: string): void;
  table(rows: Record<string, unknown>[], columns: string[]): void;
}

export function createOutput(json: boolean, out = process.stdout, err = process.stderr): Output {
  return {
    json,
    result(data, human) {
      if (json) out.write(`${JSON.stringify(data, null, 2)}\n`);
      else human();
    },
    line(text = '') {
      out.write(`${text}\n`);
    },
    progress(text) {
      if (!json) err.write(`${text}\n`);
    },
    warn(text) {
      err.write(`zenmesh: WARNING: ${text}\n`);
    },
    table(rows, columns) {
      if (rows.length === 0) {
        out.write('(none)\n');
        return;
      }
      const cell = (v: unknown) =>
        v === undefined || v === null ? '' : Array.isArray(v) ? v.join(',') : String(v);
      const widths = columns.map((c) => Math.max(c.length, ...rows.map((r) => cell(r[c]).length)));
      const fmt = (values: string[]) =>
        values
          .map((v, i) => v.padEnd(widths[i] ?? 0))
          .join('  ')
          .trimEnd();
      out.write(`${fmt(columns.map((c) => c.toUpperCase()))}\n`);
      for (const r of rows) out.write(`${fmt(columns.map((c) => cell(r[c])))}\n`);
    },
  };
}
