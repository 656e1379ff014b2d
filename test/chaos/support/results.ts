import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO } from '../../support/mesh.js';

/** One row of docs/reliability.md. */
export interface ScenarioResult {
  scenario: string;
  /** e.g. "300 events, 8 in flight, replicas ingester=2,backend=2,egress=2". */
  load: string;
  fault: string;
  sent: number;
  accepted: number;
  delivered: number;
  lost: number;
  duplicated: number;
  /** Delivery latency p99 (first POST → first arrival), ms. */
  p99Ms: number;
  /** From the fault (or its end) to service restored, ms; null where nothing was interrupted. */
  recoveryMs: number | null;
  notes?: string;
}

/** Where `pnpm chaos` collects rows (the report script reads them all). */
export const RESULTS_DIR = process.env.ZENMESH_CHAOS_RESULTS ?? join(REPO, 'test/chaos/.results');

/** Writes the row for `pnpm chaos` to collect, and prints it. */
export function recordResult(r: ScenarioResult): void {
  mkdirSync(RESULTS_DIR, { recursive: true });
  const slug = r.scenario.replace(/[^a-z0-9]+/gi, '-').toLowerCase();
  writeFileSync(
    join(RESULTS_DIR, `${slug}.json`),
    `${JSON.stringify({ ...r, at: new Date().toISOString() })}\n`,
  );
  console.log(
    `[chaos] ${r.scenario}: sent ${r.sent}, accepted ${r.accepted}, delivered ${r.delivered}, lost ${r.lost}, duplicated ${r.duplicated}, p99 ${Math.round(r.p99Ms)} ms, recovery ${r.recoveryMs === null ? '-' : `${Math.round(r.recoveryMs)} ms`}${r.notes ? ` (${r.notes})` : ''}`,
  );
}
