/** One sample of the Prometheus text exposition format: `name{labels} value`. */
export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

const LINE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)$/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

/** Parses a scrape (comments skipped). A line that is not a sample fails the test loudly. */
export function parseSamples(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = LINE.exec(line);
    if (m === null) throw new Error(`not a Prometheus sample: ${line}`);
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(LABEL))
      labels[l[1] as string] = (l[2] as string).replace(/\\(.)/g, '$1');
    samples.push({ name: m[1] as string, labels, value: Number(m[3]) });
  }
  return samples;
}

/** Scrapes a `/metrics` URL. */
export async function scrape(url: string): Promise<Sample[]> {
  const res = await fetch(url);
  if (res.status !== 200) throw new Error(`${url}: HTTP ${res.status}`);
  return parseSamples(await res.text());
}

/** The sum of the samples named `name` whose labels include `labels` (0 when there are none). */
export const total = (samples: Sample[], name: string, labels: Record<string, string> = {}): number =>
  samples
    .filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))
    .reduce((sum, s) => sum + s.value, 0);

/** Every metric name a Grafana dashboard's panels query (`zenmesh_…` identifiers in their `expr`). */
export function dashboardMetricNames(dashboard: { panels?: { targets?: { expr?: string }[] }[] }): string[] {
  const names = new Set<string>();
  for (const panel of dashboard.panels ?? []) {
    for (const target of panel.targets ?? []) {
      for (const m of (target.expr ?? '').matchAll(/\bzenmesh_[a-z0-9_]+/g)) names.add(m[0]);
    }
  }
  return [...names].sort();
}
