import { PROBES } from '../launcher/security-flows.js';
import { verifyMesh } from '../launcher/security-probe.js';
import type { RegisterCommands } from './context.js';

const SHORT: Record<(typeof PROBES)[number], string> = {
  no_client_cert: 'no cert',
  foreign_trust_domain: 'foreign TD',
  wrong_spiffe_id: 'wrong ID',
  no_hmac: 'no HMAC',
  bad_hmac: 'bad HMAC',
  stale_timestamp: 'stale ts',
  replayed_nonce: 'replay',
  legitimate: 'legit',
};

/** `zenmesh verify`: probes the running mesh like an attacker and prints the security matrix with evidence. */
export const registerVerifyCommands: RegisterCommands = (program, ctx, action) => {
  program
    .command('verify')
    .description(
      'probe every internal flow of the running mesh like an attacker (no cert, foreign trust domain, wrong SPIFFE ID, no/bad HMAC, stale timestamp, replay) and print the security matrix; exit 1 if any cell fails',
    )
    .action(
      action(async () => {
        const { home, out } = ctx();
        out.progress('Probing every internal flow…');
        const report = await verifyMesh(home);
        out.result(report, () => {
          out.line(
            `Zen Mesh security matrix — trust domain ${report.trustDomain}, signing key v${report.keyring.active}`,
          );
          out.line();
          out.table(
            report.flows.map((f) => ({
              flow: f.flow,
              rpc: f.rpc,
              ...Object.fromEntries(
                f.cells.map((c) => [
                  SHORT[c.probe],
                  c.pass ? (c.probe === 'legitimate' ? 'pass' : 'refused') : 'FAIL',
                ]),
              ),
            })),
            ['flow', 'rpc', ...PROBES.map((p) => SHORT[p])],
          );
          out.line();
          out.line('Evidence (what each probe observed; the expectation is printed when a cell fails):');
          for (const f of report.flows) {
            out.line(`${f.flow}   ${f.rpc} @ ${f.address}`);
            for (const c of f.cells) {
              out.line(
                `  ${c.pass ? 'ok  ' : 'FAIL'} ${c.probe.padEnd(21)} ${c.observed}${c.pass ? '' : `   (expected ${c.expected})`}`,
              );
            }
          }
          out.line();
          const total = report.flows.reduce((n, f) => n + f.cells.length, 0);
          if (report.ok) out.line(`All ${total} cells hold.`);
          else {
            out.line(`${report.failures.length} of ${total} cells FAIL:`);
            for (const x of report.failures)
              out.line(`  ${x.flow} ${x.probe}: expected ${x.expected}, observed ${x.observed}`);
          }
        });
        return report.ok ? 0 : 1;
      }),
    );
};
