import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createCaCore } from '@zenmesh/ca';
import { MASTER_KEY_FILE, parseMasterKey } from '@zenmesh/crypto';
import { createLogger } from '@zenmesh/telemetry';
import { CliError } from '../errors.js';
import { type Owner, writeFileAtomic } from './files.js';

/** Where the CA keeps its sealed keys and state inside its secrets directory (services/ca). */
const CA_STATE = join('ca', 'ca-state.json');

/**
 * The one master key of the trust domain, kept in every secrets directory that needs it. The first directory
 * holding one is the source; a directory holding a different key is refused (the CA's keys and the token
 * service's signing keys are sealed under it, so silently replacing it would lose them). With none, a new
 * 32-byte key is made.
 */
export function ensureMasterKey(
  dirs: readonly string[],
  owner?: Owner,
  /** Where the key is kept (default all of `dirs`); the others are only checked for a differing copy. */
  keepIn: readonly string[] = dirs,
): { created: boolean } {
  const found = dirs
    .map((dir) => join(dir, MASTER_KEY_FILE))
    .filter((file) => existsSync(file))
    .map((file) => ({ file, text: readFileSync(file, 'utf8').trim() }));
  for (const f of found) parseMasterKey(f.text, f.file);
  const distinct = new Set(found.map((f) => f.text));
  if (distinct.size > 1) {
    throw new CliError(
      'ERR_STATE',
      `the master keys in ${found.map((f) => f.file).join(', ')} differ; keep the one that sealed the CA keys and remove the others`,
    );
  }
  const key = found[0]?.text ?? randomBytes(32).toString('base64');
  for (const dir of keepIn) writeFileAtomic(join(dir, MASTER_KEY_FILE), `${key}\n`, owner);
  return { created: found.length === 0 };
}

/**
 * Creates the trust domain's CA (sealed keys, state and issuance log under `<caSecretsDir>/ca/`, exactly as
 * the `ca` service would on its first start) unless it exists, and returns the current trust bundle when it
 * was created now. An existing CA is never opened here: the running `ca` service owns it and keeps the
 * bundle file current itself.
 */
export async function ensureCa(opts: {
  caSecretsDir: string;
  trustDomain: string;
  namespace: string;
}): Promise<{ created: boolean; bundlePem?: string }> {
  if (existsSync(join(opts.caSecretsDir, CA_STATE))) return { created: false };
  const core = await createCaCore({
    secretsDir: opts.caSecretsDir,
    trustDomain: opts.trustDomain,
    namespace: opts.namespace,
    logger: createLogger('init', { level: 'silent' }),
  });
  const bundlePem = core
    .bundle()
    .pems.map((p) => (p.endsWith('\n') ? p : `${p}\n`))
    .join('');
  return { created: true, bundlePem };
}
