import { readEndpoints } from '../home.js';
import { probeEdgeBudgets } from '../launcher/edge-budget-probe.js';
import { probePairKeys } from '../launcher/pair-key-probe.js';
import { probePeerEdge } from '../launcher/peer-edge-probe.js';
import { openProbeKit } from '../launcher/probe-kit.js';
import { PROBES } from '../launcher/security-flows.js';
import { verifyMesh } from '../launcher/security-probe.js';
import { type CodeFlowClient, probeTokenEdge } from '../launcher/token-edge-probe.js';
import type { RegisterCommands } from './context.js';

const SHORT: Record<(typeof PROBES)[number], string> = {
  no_client_cert: 'no cert',
  foreign_trust_domain: 'foreign TD',
  wrong_spiffe_id: 'wrong ID',
  no_hmac: 'no HMAC',
  bad_hmac: 'bad HMAC',
  stale_timestamp: 'stale ts',
  replayed_nonce: 'replay',
  tampered_metadata: 'tampered md',
  other_service_key: 'other key',
  legitimate: 'legit',
};

/** `zenmesh verify`: probes the running mesh like an attacker and prints the security matrix with evidence. */
export const registerVerifyCommands: RegisterCommands = (program, ctx, action) => {
  program
    .command('verify')
    .description(
      'probe every internal flow of the running mesh like an attacker (no cert, foreign trust domain, wrong SPIFFE ID, no/bad HMAC, stale timestamp, replay, tampered covered metadata, a message signed with another service’s key), a peer whose certificate expires on an open connection, a caller the server holds no pair key for and each workload’s secrets, then the token service edge (login cookie and CSP, forged enrollment link, anonymous introspection) and the public faces’ per-IP budgets (spent before any lookup or authentication), and print the security matrix; exit 1 if any cell fails',
    )
    .action(
      action(async () => {
        const { home, out, api } = ctx();
        out.progress('Probing every internal flow…');
        const mesh = await verifyMesh(home);
        out.progress('Probing a peer certificate that expires on an open connection…');
        const peerEdge = await probePeerEdge(await openProbeKit(home));
        out.progress('Probing the pair keys each workload holds…');
        const pairKeys = await probePairKeys(await openProbeKit(home), home);
        out.progress('Probing the token service edge…');
        // Read-only: the first registered code-flow client, whose login form the edge probe fetches.
        const client = await (async (): Promise<CodeFlowClient | null> => {
          try {
            const { clients } = await api().get<{
              clients: Array<{ id: string; grantTypes: string[]; redirectUris: string[] }>;
            }>('/api/v1/oauth-clients');
            const c = clients.find(
              (x) => x.grantTypes.includes('authorization_code') && x.redirectUris.length > 0,
            );
            return c === undefined ? null : { id: c.id, redirectUri: c.redirectUris[0] ?? '' };
          } catch {
            // No admin key or no such scope: the login-page checks are reported as skipped.
            return null;
          }
        })();
        const endpoints = readEndpoints(home);
        const tokenEdge = await probeTokenEdge(endpoints.token, client);
        out.progress('Probing the public faces’ per-IP budgets…');
        const edgeBudgets = await probeEdgeBudgets(endpoints);
        const ok = mesh.ok && peerEdge.ok && pairKeys.ok && tokenEdge.ok && edgeBudgets.ok;
        const report = { ...mesh, ok, peerEdge, pairKeys, tokenEdge, edgeBudgets };
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
          out.line(
            'Denied to the caller’s own identity (the policy alone refuses; identity and signature are right):',
          );
          for (const d of report.denied) {
            out.line(
              `  ${d.pass ? 'ok  ' : 'FAIL'} ${`${d.flow}  ${d.rpc}`.padEnd(46)} ${d.observed}${d.pass ? '' : `   (expected ${d.expected})`}`,
            );
          }
          out.line();
          out.line(`Peer certificate edge (${peerEdge.flow}):`);
          for (const r of peerEdge.results) {
            out.line(
              `  ${r.pass ? 'ok  ' : 'FAIL'} ${r.check.padEnd(29)} ${r.observed}${r.pass ? '' : `   (expected ${r.expected})`}`,
            );
          }
          out.line();
          out.line(`Pair keys (${pairKeys.flow}, and each workload's secrets):`);
          for (const r of pairKeys.results) {
            out.line(
              `  ${r.pass ? 'ok  ' : 'FAIL'} ${r.check.padEnd(29)} ${r.observed}${r.pass ? '' : `   (expected ${r.expected})`}`,
            );
          }
          out.line();
          out.line(`Token service edge (${tokenEdge.issuer}):`);
          for (const r of tokenEdge.results) {
            out.line(
              `  ${r.pass ? (r.skipped ? 'skip' : 'ok  ') : 'FAIL'} ${r.check.padEnd(27)} ${r.observed}${r.pass ? '' : `   (expected ${r.expected})`}`,
            );
          }
          out.line();
          out.line('Per-IP budgets, spent before any lookup or authentication:');
          for (const r of edgeBudgets.results) {
            out.line(
              `  ${r.pass ? 'ok  ' : 'FAIL'} ${r.check.padEnd(27)} ${r.observed}${r.pass ? '' : `   (expected ${r.expected})`}`,
            );
          }
          out.line();
          const total = mesh.flows.reduce((n, f) => n + f.cells.length, 0) + mesh.denied.length;
          const peerFailures = peerEdge.results.filter((r) => !r.pass);
          if (peerFailures.length > 0)
            out.line(
              `${peerFailures.length} peer edge check(s) FAIL: ${peerFailures.map((r) => r.check).join(', ')}`,
            );
          const pairFailures = pairKeys.results.filter((r) => !r.pass);
          if (pairFailures.length > 0)
            out.line(
              `${pairFailures.length} pair key check(s) FAIL: ${pairFailures.map((r) => r.check).join(', ')}`,
            );
          const budgetFailures = edgeBudgets.results.filter((r) => !r.pass);
          if (budgetFailures.length > 0)
            out.line(
              `${budgetFailures.length} edge budget check(s) FAIL: ${budgetFailures.map((r) => r.check).join(', ')}`,
            );
          const edgeFailures = tokenEdge.results.filter((r) => !r.pass);
          if (edgeFailures.length > 0)
            out.line(
              `${edgeFailures.length} token edge check(s) FAIL: ${edgeFailures.map((r) => r.check).join(', ')}`,
            );
          if (mesh.ok) out.line(`All ${total} cells hold.`);
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
