import { Option } from 'commander';
import type { Output } from '../output.js';
import { enc, limit, type RegisterCommands } from './context.js';

/** One tenant's chain as the bff's GET /api/v1/audit/verify reports it. */
export interface AuditChainJson {
  tenantId: string;
  tenantName: string;
  rows: number;
  ok: boolean;
  broken: { seq: number; id: string; reason: string } | null;
  /** Set when a retention purge removed the oldest rows: the chain is verified from this checkpoint. */
  checkpointSeq?: number;
}

export interface AuditVerifyJson {
  ok: boolean;
  chains: AuditChainJson[];
}

const WHY: Record<string, string> = {
  hash_mismatch: 'the row was changed after it was written',
  prev_hash_mismatch: 'the link to the previous row was changed (a row was rewritten)',
  seq_gap: 'a row before it is missing',
  head_mismatch: 'rows at the end of the chain were removed',
  checkpoint_mismatch:
    'the first row after the retention checkpoint does not link to it (checkpoint or rows changed)',
};

/** Human lines for `zenmesh audit verify`: one per tenant, naming the first broken link. */
export function formatAuditVerify(result: AuditVerifyJson): string[] {
  if (result.chains.length === 0) return ['no tenants'];
  const lines = result.chains.map((c) => {
    const who = `tenant ${c.tenantName} (${c.tenantId})`;
    const from =
      c.checkpointSeq === undefined
        ? ''
        : ` from checkpoint seq ${c.checkpointSeq} (older rows purged by retention)`;
    if (c.ok) return `${who}: OK, ${c.rows} row${c.rows === 1 ? '' : 's'} verified${from}`;
    const b = c.broken;
    if (b === null) return `${who}: BROKEN`;
    const row = b.id === '' ? `seq ${b.seq}` : `seq ${b.seq} (${b.id})`;
    return `${who}: BROKEN at ${row}: ${b.reason}, ${WHY[b.reason] ?? 'unknown reason'}; ${c.rows} row${c.rows === 1 ? '' : 's'} before it verified`;
  });
  lines.push(result.ok ? 'audit chain intact' : 'audit chain BROKEN');
  return lines;
}

const print = (out: Output, lines: string[]) => {
  for (const l of lines) out.line(l);
};

/** `zenmesh audit verify|list`, over the bff's /api/v1. */
export const registerAuditCommands: RegisterCommands = (program, ctx, action) => {
  const audit = program.command('audit').description('the hash-chained audit log');
  audit
    .command('verify')
    .description('walk each tenant audit chain and name the first broken link (exit 1 if any)')
    .option('--tenant <tenant>', 'only this tenant (id or name)')
    .action(
      action(async (o: { tenant?: string }) => {
        const { out, api } = ctx();
        const q = o.tenant ? `?${new URLSearchParams({ tenant: o.tenant })}` : '';
        const res = await api().get<AuditVerifyJson>(`/api/v1/audit/verify${q}`);
        out.result(res, () => print(out, formatAuditVerify(res)));
        return res.ok ? 0 : 1;
      }),
    );
  audit
    .command('list')
    .description("a tenant's audit rows, oldest first")
    .requiredOption('--tenant <tenant>', 'tenant id or name')
    .addOption(new Option('--limit <n>', 'how many').argParser(limit).default(100))
    .option('--after-seq <n>', 'only rows after this sequence number', '0')
    .action(
      action(async (o: { tenant: string; limit: number; afterSeq: string }) => {
        const { out, api } = ctx();
        const q = new URLSearchParams({ limit: String(o.limit), afterSeq: o.afterSeq });
        const res = await api().get<{ entries: Record<string, unknown>[] }>(
          `/api/v1/tenants/${enc(o.tenant)}/audit?${q}`,
        );
        out.result(res, () => out.table(res.entries, ['seq', 'at', 'actor', 'action', 'target', 'ip']));
        return 0;
      }),
    );
};
