import {
  activateKeyVersion,
  addKeyVersion,
  type KeyringState,
  loadMasterKey,
  readKeyringFile,
  writeKeyringFile,
} from '@zenmesh/crypto';
import { InvalidArgumentError, Option } from 'commander';
import { CliError } from '../errors.js';
import { paths } from '../home.js';
import { openProbeKit, type ProbeKit } from '../launcher/probe-kit.js';
import { serverAccepts } from '../launcher/security-probe.js';
import { rewriteWorkloadKeys } from '../launcher/workload-secrets.js';
import type { RegisterCommands } from './context.js';

const seconds = (min: number) => (value: string) => {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n < min || n > 30 * 86400)
    throw new InvalidArgumentError(`expected ${min}-${30 * 86400} seconds`);
  return n;
};

const describe = (s: KeyringState, now = Date.now()) =>
  s.keys.map((k) => ({
    keyId: `v${k.version}`,
    role:
      k.version === s.active
        ? 'signs and verifies'
        : k.retiresAt && Date.parse(k.retiresAt) <= now
          ? 'retired'
          : 'verifies',
    retiresAt: k.retiresAt ?? '',
  }));

/** Waits until every running server accepts `state`'s active version (each re-reads the keyring itself). */
async function waitForAcceptance(
  kit: ProbeKit,
  state: KeyringState,
  timeoutMs: number,
  progress: (t: string) => void,
) {
  const deadline = Date.now() + timeoutMs;
  const evidence: Record<string, string> = {};
  for (const server of Object.keys(kit.endpoints.grpc).sort()) {
    for (;;) {
      const r = await serverAccepts(kit, server, state);
      evidence[server] = r.observed;
      if (r.ok) break;
      if (Date.now() > deadline) {
        throw new CliError(
          'ERR_STATE',
          `${server} does not accept key v${state.active} yet (${r.observed}); the old key still signs, nothing failed — run 'zenmesh keys rotate' again once it is healthy`,
        );
      }
      await new Promise((r) => setTimeout(r, 250));
    }
    progress(`  ${server} accepts v${state.active}`);
  }
  return evidence;
}

/** `zenmesh keys status|rotate`: the cluster's HMAC key versions. */
export const registerKeysCommands: RegisterCommands = (program, ctx, action) => {
  const keys = program
    .command('keys')
    .description('per-message HMAC keys of the cluster (HKDF from the master key)');
  keys
    .command('status')
    .description('show which key version signs and which ones still verify')
    .action(
      action(async () => {
        const { home, out } = ctx();
        const state = readKeyringFile(paths(home).secrets);
        out.result({ active: state.active, keys: describe(state) }, () =>
          out.table(describe(state), ['keyId', 'role', 'retiresAt']),
        );
        return 0;
      }),
    );
  keys
    .command('rotate')
    .description(
      'roll to a new key version with no failed call: every server accepts it (proved by a signed probe) → it signs → the old one retires later',
    )
    .addOption(
      new Option(
        '--retire-after <seconds>',
        'how long the previous version keeps verifying (min 5; default the 300 s window)',
      )
        .argParser(seconds(5))
        .default(300),
    )
    .addOption(
      new Option('--timeout <seconds>', 'how long to wait for every server to accept the new version')
        .argParser(seconds(1))
        .default(30),
    )
    .action(
      action(async (o: { retireAfter: number; timeout: number }) => {
        const { home, out } = ctx();
        const dir = paths(home).secrets;
        const before = readKeyringFile(dir);
        const masterKey = loadMasterKey(dir);
        // The cluster keyring, then each service's own pair keys derived for it (each re-reads its file).
        const publish = (state: KeyringState) => {
          writeKeyringFile(dir, state);
          rewriteWorkloadKeys(home, masterKey, state);
        };
        // 1. Every process accepts the new version; the old one still signs.
        const { state: accepting, version } = addKeyVersion(before);
        publish(accepting);
        out.progress(`v${version} accepted; waiting for every running server to pick it up`);
        // 2. Proof, per running server, that it verifies the new version, before anyone signs with it.
        let evidence: Record<string, string> = {};
        let kit: ProbeKit | undefined;
        try {
          kit = await openProbeKit(home);
        } catch (err) {
          if ((err as CliError).code !== 'ERR_NOT_RUNNING') throw err;
          out.progress('no running mesh: nothing to wait for');
        }
        if (kit)
          evidence = await waitForAcceptance(kit, { ...accepting, active: version }, o.timeout * 1000, (t) =>
            out.progress(t),
          );
        // 3. The new version signs; the previous ones verify until the retirement time, then stop.
        const after = activateKeyVersion(accepting, version, o.retireAfter * 1000);
        publish(after);
        const result = { previous: before.active, active: version, keys: describe(after), evidence };
        out.result(result, () => {
          out.line(`HMAC key rotated: v${before.active} → v${version}`);
          out.table(describe(after), ['keyId', 'role', 'retiresAt']);
        });
        return 0;
      }),
    );
};
